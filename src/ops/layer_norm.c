/* kiln_layer_norm: every argument checked here, once for all backends. */
#include "check.h"

static const char *const FN = "kiln_layer_norm";

/* weight or bias: optional, [H], x's dtype, apart from out. */
static kiln_status check_param(kiln_context *ctx, const char *name, const kiln_tensor *p,
                               const kiln_tensor *x, const kiln_tensor *out) {
  if (!p)
    return KILN_OK;
  KILN_TRY(kiln_check_tensor(FN, name, p, ctx));
  KILN_TRY(kiln_check_dtype(FN, name, p, "x", x));
  KILN_TRY(kiln_check_vector(FN, name, p, "x", x));
  return kiln_check_no_overlap(FN, "out", out, name, p);
}

kiln_status kiln_layer_norm(kiln_context *ctx, const kiln_tensor *x, const kiln_tensor *weight,
                            const kiln_tensor *bias, float eps, kiln_tensor *out) {
  KILN_TRY(kiln_check_ctx(FN, ctx));
  KILN_TRY(kiln_check_tensor(FN, "x", x, ctx));
  KILN_TRY(kiln_check_output(FN, "out", out, ctx));
  KILN_TRY(kiln_check_float(FN, "eps", eps, true));
  KILN_TRY(kiln_check_float_dtype(FN, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "out", out, "x", x));
  KILN_TRY(kiln_check_same_shape(FN, "out", out, "x", x));
  KILN_TRY(check_param(ctx, "weight", weight, x, out));
  KILN_TRY(check_param(ctx, "bias", bias, x, out));
  KILN_TRY(kiln_check_in_place_or_apart(FN, "out", out, "x", x));
  const int64_t cols = x->shape[x->ndim - 1];
  kiln_op op = {.kind = KILN_OP_LAYER_NORM};
  op.u.layer_norm = (kiln_layer_norm_op){
      .x = x, .weight = weight, .bias = bias, .out = out,
      .dtype = x->dtype, .rows = cols ? x->numel / cols : 0, .cols = cols, .eps = eps,
  };
  KILN_TRY(kiln_check_supported(FN, ctx, &op));
  if (x->numel == 0)
    return KILN_OK;
  return kiln_dispatch(ctx, &op);
}
