/* kiln_add_rms_norm: checked once here, then the backend's fused kernel or
 * the composite add + rms_norm through kiln_dispatch. */
#include "check.h"

static const char *const FN = "kiln_add_rms_norm";

static kiln_status check_args(kiln_context *ctx, const kiln_tensor *x,
                              const kiln_tensor *residual, const kiln_tensor *weight, float eps,
                              const kiln_tensor *h, const kiln_tensor *out) {
  KILN_TRY(kiln_check_ctx(FN, ctx));
  KILN_TRY(kiln_check_tensor(FN, "x", x, ctx));
  KILN_TRY(kiln_check_tensor(FN, "residual", residual, ctx));
  KILN_TRY(kiln_check_tensor(FN, "weight", weight, ctx));
  KILN_TRY(kiln_check_output(FN, "h_out", h, ctx));
  KILN_TRY(kiln_check_output(FN, "out", out, ctx));
  KILN_TRY(kiln_check_float(FN, "eps", eps, true));
  KILN_TRY(kiln_check_float_dtype(FN, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "residual", residual, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "weight", weight, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "h_out", h, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "out", out, "x", x));
  KILN_TRY(kiln_check_same_shape(FN, "residual", residual, "x", x));
  KILN_TRY(kiln_check_vector(FN, "weight", weight, "x", x));
  KILN_TRY(kiln_check_same_shape(FN, "h_out", h, "x", x));
  KILN_TRY(kiln_check_same_shape(FN, "out", out, "x", x));
  /* h_out may replace x or residual, or both when they are one tensor (it
   * is read element by element before being written); against each input
   * it is that input or apart from it, so h_out == residual with an x that
   * overlaps it in part is refused (and the other way round). out is read
   * by nobody and must stand apart. */
  KILN_TRY(kiln_check_in_place_or_apart(FN, "h_out", h, "x", x));
  KILN_TRY(kiln_check_in_place_or_apart(FN, "h_out", h, "residual", residual));
  KILN_TRY(kiln_check_no_overlap(FN, "h_out", h, "weight", weight));
  KILN_TRY(kiln_check_no_overlap(FN, "out", out, "x", x));
  KILN_TRY(kiln_check_no_overlap(FN, "out", out, "residual", residual));
  KILN_TRY(kiln_check_no_overlap(FN, "out", out, "weight", weight));
  return kiln_check_no_overlap(FN, "out", out, "h_out", h);
}

/* h = x + residual, then out = rms_norm(h): the basic ops' own structs. */
static kiln_status composite(kiln_context *ctx, const kiln_add_rms_norm_op *f) {
  kiln_op add = {.kind = KILN_OP_BINARY};
  add.u.binary = (kiln_binary_op){.kind = KILN_BINARY_ADD, .a = f->x, .b = f->residual,
                                  .out = f->h, .dtype = f->dtype, .n = f->rows * f->cols,
                                  .b_n = f->rows * f->cols};
  kiln_op norm = {.kind = KILN_OP_RMS_NORM};
  norm.u.rms_norm = (kiln_rms_norm_op){.x = f->h, .weight = f->weight, .out = f->out,
                                       .dtype = f->dtype, .rows = f->rows, .cols = f->cols,
                                       .eps = f->eps};
  KILN_TRY(kiln_check_supported(FN, ctx, &add));
  KILN_TRY(kiln_check_supported(FN, ctx, &norm));
  KILN_TRY(kiln_dispatch(ctx, &add));
  return kiln_dispatch(ctx, &norm);
}

kiln_status kiln_add_rms_norm(kiln_context *ctx, const kiln_tensor *x,
                              const kiln_tensor *residual, const kiln_tensor *weight, float eps,
                              kiln_tensor *h_out, kiln_tensor *out) {
  KILN_TRY(check_args(ctx, x, residual, weight, eps, h_out, out));
  if (x->numel == 0)
    return KILN_OK;
  const int64_t cols = x->shape[x->ndim - 1];
  kiln_op op = {.kind = KILN_OP_ADD_RMS_NORM};
  op.u.add_rms_norm = (kiln_add_rms_norm_op){
      .x = x, .residual = residual, .weight = weight, .h = h_out, .out = out,
      .dtype = x->dtype, .rows = x->numel / cols, .cols = cols, .eps = eps,
  };
  if (!ctx->prefer_composite && kiln_backend_runs(ctx, &op))
    return kiln_dispatch(ctx, &op);
  return composite(ctx, &op.u.add_rms_norm);
}
