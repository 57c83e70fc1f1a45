/* kiln_embedding: shapes and dtypes checked here; the ids themselves are
 * data, checked by the backend where they live (see kiln.h). */
#include "check.h"

static const char *const FN = "kiln_embedding";

static kiln_status check_shapes(const kiln_tensor *table, const kiln_tensor *ids,
                                const kiln_tensor *out) {
  char s1[KILN_SHAPE_STR_LEN], s2[KILN_SHAPE_STR_LEN];
  if (table->ndim != 2)
    return kiln_fail(KILN_ERR_SHAPE, "%s: table is %s; it must be [V, D]", FN,
                     kiln_shape_str(table, s1));
  if (ids->ndim >= KILN_MAX_DIMS)
    return kiln_fail(KILN_ERR_SHAPE, "%s: ids is %s; out adds a dim, so ids may have at most "
                     "%d", FN, kiln_shape_str(ids, s1), KILN_MAX_DIMS - 1);
  bool fits = out->ndim == ids->ndim + 1 && out->shape[ids->ndim] == table->shape[1];
  for (int i = 0; fits && i < ids->ndim; i++)
    fits = out->shape[i] == ids->shape[i];
  if (!fits)
    return kiln_fail(KILN_ERR_SHAPE, "%s: ids is %s and table is %s, so out must be ids' shape "
                     "and then %lld, but out is %s", FN, kiln_shape_str(ids, s1),
                     kiln_shape_str(table, s2), (long long)table->shape[1],
                     kiln_shape_str(out, s1));
  return KILN_OK;
}

kiln_status kiln_embedding(kiln_context *ctx, const kiln_tensor *table, const kiln_tensor *ids,
                           kiln_tensor *out) {
  KILN_TRY(kiln_check_ctx(FN, ctx));
  KILN_TRY(kiln_check_tensor(FN, "table", table, ctx));
  KILN_TRY(kiln_check_tensor(FN, "ids", ids, ctx));
  KILN_TRY(kiln_check_output(FN, "out", out, ctx));
  KILN_TRY(kiln_check_float_dtype(FN, "table", table));
  if (ids->dtype != KILN_I32) {
    char s[KILN_SHAPE_STR_LEN];
    return kiln_fail(KILN_ERR_DTYPE, "%s: ids is %s %s; ids must be i32", FN,
                     kiln_dtype_name(ids->dtype), kiln_shape_str(ids, s));
  }
  KILN_TRY(kiln_check_dtype(FN, "out", out, "table", table));
  KILN_TRY(check_shapes(table, ids, out));
  KILN_TRY(kiln_check_no_overlap(FN, "out", out, "table", table));
  KILN_TRY(kiln_check_no_overlap(FN, "out", out, "ids", ids));
  kiln_op op = {.kind = KILN_OP_EMBEDDING};
  op.u.embedding = (kiln_embedding_op){.table = table, .ids = ids, .out = out,
                                       .dtype = table->dtype, .n_ids = ids->numel,
                                       .vocab = table->shape[0], .d = table->shape[1]};
  KILN_TRY(kiln_check_supported(FN, ctx, &op));
  if (ids->numel == 0)
    return KILN_OK;
  return kiln_dispatch(ctx, &op);
}
