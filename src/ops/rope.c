/* kiln_rope: every argument checked here, once for all backends. */
#include "check.h"

static const char *const FN = "kiln_rope";

static kiln_status check_params(const kiln_rope_params *p) {
  KILN_TRY(kiln_check_float(FN, "base", p->base, true));
  KILN_TRY(kiln_check_flag(FN, "interleaved", p->interleaved));
  if (p->seq_axis != 0 && p->seq_axis != -2 && p->seq_axis != -3)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: seq_axis is %d; it must be -2 ([..., S, D]), "
                     "-3 ([..., S, H, D]) or 0 (-2)", FN, p->seq_axis);
  if (p->position_offset < 0)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: position_offset is %lld; it must be >= 0",
                     FN, (long long)p->position_offset);
  return KILN_OK;
}

/* Every position, position_offset + s for s < S, is an int64_t: the
 * backends compute it as one before rounding it to f32. The last one,
 * position_offset + S - 1, is checked without forming it (that could
 * overflow); an empty sequence (S = 0) has no position to check. */
static kiln_status check_positions(const kiln_tensor *x, const kiln_rope_params *p, int64_t seq) {
  if (seq == 0 || p->position_offset <= INT64_MAX - (seq - 1))
    return KILN_OK;
  char sx[KILN_SHAPE_STR_LEN];
  return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: position_offset is %lld and x is %s with "
                   "S = %lld: the last position, position_offset + S - 1, exceeds INT64_MAX",
                   FN, (long long)p->position_offset, kiln_shape_str(x, sx), (long long)seq);
}

/* Reads [outer, seq, inner, d] and rotary_dims off x's shape. */
static kiln_status check_shape(const kiln_tensor *x, const kiln_rope_params *p, kiln_rope_op *op) {
  char sx[KILN_SHAPE_STR_LEN];
  const int axis = p->seq_axis ? -p->seq_axis : 2; /* from the end, 1 = the last */
  if (x->ndim < axis)
    return kiln_fail(KILN_ERR_SHAPE, "%s: x is %s; seq_axis %d needs at least %d dims", FN,
                     kiln_shape_str(x, sx), -axis, axis);
  const int64_t d = x->shape[x->ndim - 1];
  const int64_t rotary = p->rotary_dims ? p->rotary_dims : d;
  if (rotary < 0 || rotary > d || rotary % 2 != 0)
    return kiln_fail(p->rotary_dims ? KILN_ERR_INVALID_ARGUMENT : KILN_ERR_SHAPE,
                     "%s: x is %s and rotary_dims is %d; the rotated dims must be even, 0 < "
                     "rotary_dims <= %lld (0 means all of D, which must then be even)", FN,
                     kiln_shape_str(x, sx), p->rotary_dims, (long long)d);
  op->seq = x->shape[x->ndim - axis];
  op->inner = axis == 3 ? x->shape[x->ndim - 2] : 1;
  op->d = d;
  op->rotary_dims = rotary;
  return KILN_OK;
}

kiln_status kiln_rope(kiln_context *ctx, const kiln_tensor *x, kiln_tensor *out,
                      const kiln_rope_params *p) {
  const kiln_rope_params llama = {.base = 10000.0f};
  if (!p)
    p = &llama;
  KILN_TRY(kiln_check_ctx(FN, ctx));
  KILN_TRY(kiln_check_tensor(FN, "x", x, ctx));
  KILN_TRY(kiln_check_output(FN, "out", out, ctx));
  KILN_TRY(check_params(p));
  KILN_TRY(kiln_check_float_dtype(FN, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "out", out, "x", x));
  KILN_TRY(kiln_check_same_shape(FN, "out", out, "x", x));
  KILN_TRY(kiln_check_in_place_or_apart(FN, "out", out, "x", x));
  kiln_op op = {.kind = KILN_OP_ROPE};
  kiln_rope_op *r = &op.u.rope;
  KILN_TRY(check_shape(x, p, r));
  KILN_TRY(check_positions(x, p, r->seq));
  if (x->numel > 0) { /* an empty x's other dims may multiply past INT64_MAX */
    const int axis = p->seq_axis ? -p->seq_axis : 2;
    KILN_TRY(kiln_check_dims_product(FN, "x", x, 0, x->ndim - axis, &r->outer));
  }
  r->x = x;
  r->out = out;
  r->dtype = x->dtype;
  r->position_offset = p->position_offset;
  r->base = p->base;
  r->interleaved = p->interleaved;
  KILN_TRY(kiln_check_supported(FN, ctx, &op));
  if (x->numel == 0)
    return KILN_OK;
  return kiln_dispatch(ctx, &op);
}
