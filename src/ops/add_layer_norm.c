/* kiln_add_layer_norm: checked once here, then the backend's fused kernel
 * or the composite add + layer_norm through kiln_dispatch. The rules are
 * kiln_add_rms_norm's, with layer_norm's optional weight and bias. */
#include "check.h"

static const char *const FN = "kiln_add_layer_norm";

/* weight or bias: optional, [H], x's dtype, apart from both outputs. */
static kiln_status check_param(kiln_context *ctx, const char *name, const kiln_tensor *p,
                               const kiln_tensor *x, const kiln_tensor *h,
                               const kiln_tensor *out) {
  if (!p)
    return KILN_OK;
  KILN_TRY(kiln_check_tensor(FN, name, p, ctx));
  KILN_TRY(kiln_check_dtype(FN, name, p, "x", x));
  KILN_TRY(kiln_check_vector(FN, name, p, "x", x));
  KILN_TRY(kiln_check_no_overlap(FN, "h_out", h, name, p));
  return kiln_check_no_overlap(FN, "out", out, name, p);
}

static kiln_status check_args(kiln_context *ctx, const kiln_tensor *x,
                              const kiln_tensor *residual, const kiln_tensor *weight,
                              const kiln_tensor *bias, float eps, const kiln_tensor *h,
                              const kiln_tensor *out) {
  KILN_TRY(kiln_check_ctx(FN, ctx));
  KILN_TRY(kiln_check_tensor(FN, "x", x, ctx));
  KILN_TRY(kiln_check_tensor(FN, "residual", residual, ctx));
  KILN_TRY(kiln_check_output(FN, "h_out", h, ctx));
  KILN_TRY(kiln_check_output(FN, "out", out, ctx));
  KILN_TRY(kiln_check_float(FN, "eps", eps, true));
  KILN_TRY(kiln_check_float_dtype(FN, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "residual", residual, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "h_out", h, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "out", out, "x", x));
  KILN_TRY(kiln_check_same_shape(FN, "residual", residual, "x", x));
  KILN_TRY(kiln_check_same_shape(FN, "h_out", h, "x", x));
  KILN_TRY(kiln_check_same_shape(FN, "out", out, "x", x));
  KILN_TRY(check_param(ctx, "weight", weight, x, h, out));
  KILN_TRY(check_param(ctx, "bias", bias, x, h, out));
  /* As kiln_add_rms_norm: h_out is x, residual (or both, when they are one
   * tensor), or apart from each; out is read by nobody and stands apart. */
  KILN_TRY(kiln_check_in_place_or_apart(FN, "h_out", h, "x", x));
  KILN_TRY(kiln_check_in_place_or_apart(FN, "h_out", h, "residual", residual));
  KILN_TRY(kiln_check_no_overlap(FN, "out", out, "x", x));
  KILN_TRY(kiln_check_no_overlap(FN, "out", out, "residual", residual));
  return kiln_check_no_overlap(FN, "out", out, "h_out", h);
}

/* h = x + residual, then out = layer_norm(h): the basic ops' own structs. */
static kiln_status composite(kiln_context *ctx, const kiln_add_layer_norm_op *f) {
  kiln_op add = {.kind = KILN_OP_BINARY};
  add.u.binary = (kiln_binary_op){.kind = KILN_BINARY_ADD, .a = f->x, .b = f->residual,
                                  .out = f->h, .dtype = f->dtype, .n = f->rows * f->cols,
                                  .b_n = f->rows * f->cols};
  kiln_op norm = {.kind = KILN_OP_LAYER_NORM};
  norm.u.layer_norm = (kiln_layer_norm_op){.x = f->h, .weight = f->weight, .bias = f->bias,
                                           .out = f->out, .dtype = f->dtype, .rows = f->rows,
                                           .cols = f->cols, .eps = f->eps};
  KILN_TRY(kiln_check_supported(FN, ctx, &add));
  KILN_TRY(kiln_check_supported(FN, ctx, &norm));
  KILN_TRY(kiln_dispatch(ctx, &add));
  return kiln_dispatch(ctx, &norm);
}

kiln_status kiln_add_layer_norm(kiln_context *ctx, const kiln_tensor *x,
                                const kiln_tensor *residual, const kiln_tensor *weight,
                                const kiln_tensor *bias, float eps, kiln_tensor *h_out,
                                kiln_tensor *out) {
  KILN_TRY(check_args(ctx, x, residual, weight, bias, eps, h_out, out));
  if (x->numel == 0)
    return KILN_OK;
  const int64_t cols = x->shape[x->ndim - 1];
  kiln_op op = {.kind = KILN_OP_ADD_LAYER_NORM};
  op.u.add_layer_norm = (kiln_add_layer_norm_op){
      .x = x, .residual = residual, .weight = weight, .bias = bias, .h = h_out, .out = out,
      .dtype = x->dtype, .rows = x->numel / cols, .cols = cols, .eps = eps,
  };
  if (!ctx->prefer_composite && kiln_backend_runs(ctx, &op))
    return kiln_dispatch(ctx, &op);
  return composite(ctx, &op.u.add_layer_norm);
}
