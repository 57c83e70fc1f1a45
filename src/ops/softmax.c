/* kiln_softmax: every argument checked here, once for all backends. */
#include "check.h"

static const char *const FN = "kiln_softmax";

/* mask: [Sk], or [B, Sk] with B = x's first dim. Returns how many
 * consecutive rows of the flattened x share one mask row. */
static kiln_status check_mask(kiln_context *ctx, const kiln_tensor *x, const kiln_tensor *out,
                              const kiln_tensor *mask, int64_t rows, int64_t *group) {
  KILN_TRY(kiln_check_tensor(FN, "mask", mask, ctx));
  KILN_TRY(kiln_check_dtype(FN, "mask", mask, "x", x));
  const int64_t cols = x->shape[x->ndim - 1];
  bool per_row = mask->ndim == 1 && mask->shape[0] == cols;
  bool per_batch = mask->ndim == 2 && x->ndim >= 2 && mask->shape[0] == x->shape[0] &&
                   mask->shape[1] == cols;
  if (!per_row && !per_batch) {
    char sx[KILN_SHAPE_STR_LEN], sm[KILN_SHAPE_STR_LEN];
    return kiln_fail(KILN_ERR_SHAPE, "%s: x is %s but mask is %s; mask must be [%lld], or [%lld, "
                     "%lld] (x's first dim, then its last) for x of 2 dims or more", FN,
                     kiln_shape_str(x, sx), kiln_shape_str(mask, sm), (long long)cols,
                     (long long)x->shape[0], (long long)cols);
  }
  KILN_TRY(kiln_check_no_overlap(FN, "out", out, "mask", mask));
  *group = per_row ? rows : (mask->shape[0] ? rows / mask->shape[0] : 1);
  return KILN_OK;
}

kiln_status kiln_softmax(kiln_context *ctx, const kiln_tensor *x, kiln_tensor *out,
                         const kiln_softmax_params *p) {
  const kiln_softmax_params plain = {.scale = 1.0f};
  if (!p)
    p = &plain;
  KILN_TRY(kiln_check_ctx(FN, ctx));
  KILN_TRY(kiln_check_tensor(FN, "x", x, ctx));
  KILN_TRY(kiln_check_output(FN, "out", out, ctx));
  KILN_TRY(kiln_check_flag(FN, "causal", p->causal));
  KILN_TRY(kiln_check_float(FN, "scale", p->scale, true));
  KILN_TRY(kiln_check_float_dtype(FN, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "out", out, "x", x));
  KILN_TRY(kiln_check_same_shape(FN, "out", out, "x", x));
  if (p->causal && x->ndim < 2) {
    char sx[KILN_SHAPE_STR_LEN];
    return kiln_fail(KILN_ERR_SHAPE, "%s: x is %s; causal needs [..., Sq, Sk], 2 dims or more",
                     FN, kiln_shape_str(x, sx));
  }
  KILN_TRY(kiln_check_in_place_or_apart(FN, "out", out, "x", x));
  const int64_t cols = x->shape[x->ndim - 1];
  const int64_t rows = cols ? x->numel / cols : 0;
  int64_t group = 0;
  if (p->mask) {
    KILN_TRY(check_mask(ctx, x, out, p->mask, rows, &group));
  }
  kiln_op op = {.kind = KILN_OP_SOFTMAX};
  op.u.softmax = (kiln_softmax_op){
      .x = x,
      .out = out,
      .dtype = x->dtype,
      .rows = rows,
      .cols = cols,
      .sq = p->causal ? x->shape[x->ndim - 2] : 0,
      .causal = p->causal,
      .scale = p->scale,
      .mask = p->mask,
      .mask_group = group,
  };
  KILN_TRY(kiln_check_supported(FN, ctx, &op));
  if (x->numel == 0)
    return KILN_OK;
  return kiln_dispatch(ctx, &op);
}
