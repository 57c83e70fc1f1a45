/* kiln_softmax: every argument checked here, once for all backends. */
#include "check.h"

static const char *const FN = "kiln_softmax";

kiln_status kiln_softmax(kiln_context *ctx, const kiln_tensor *x, kiln_tensor *out,
                         const kiln_softmax_params *p) {
  const kiln_softmax_params plain = {.scale = 1.0f};
  if (!p)
    p = &plain;
  KILN_TRY(kiln_check_ctx(FN, ctx));
  KILN_TRY(kiln_check_tensor(FN, "x", x, ctx));
  KILN_TRY(kiln_check_tensor(FN, "out", out, ctx));
  KILN_TRY(kiln_check_flag(FN, "causal", p->causal));
  KILN_TRY(kiln_check_float(FN, "scale", p->scale, true));
  KILN_TRY(kiln_check_dtype(FN, "out", out, "x", x));
  KILN_TRY(kiln_check_same_shape(FN, "out", out, "x", x));
  if (p->causal && x->ndim < 2) {
    char sx[KILN_SHAPE_STR_LEN];
    return kiln_fail(KILN_ERR_SHAPE, "%s: x is %s; causal needs [..., Sq, Sk], 2 dims or more",
                     FN, kiln_shape_str(x, sx));
  }
  if (out != x)
    KILN_TRY(kiln_check_no_overlap(FN, "out", out, "x", x));
  if (x->numel == 0)
    return KILN_OK;
  int64_t cols = x->shape[x->ndim - 1];
  kiln_op op = {.kind = KILN_OP_SOFTMAX};
  op.u.softmax = (kiln_softmax_op){
      .x = x,
      .out = out,
      .dtype = x->dtype,
      .rows = x->numel / cols,
      .cols = cols,
      .sq = p->causal ? x->shape[x->ndim - 2] : 0,
      .causal = p->causal,
      .scale = p->scale,
  };
  return kiln_dispatch(ctx, &op);
}
