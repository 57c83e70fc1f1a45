/* kiln_rms_norm: every argument checked here, once for all backends. */
#include "check.h"

static const char *const FN = "kiln_rms_norm";

kiln_status kiln_rms_norm(kiln_context *ctx, const kiln_tensor *x, const kiln_tensor *weight,
                          float eps, kiln_tensor *out) {
  KILN_TRY(kiln_check_ctx(FN, ctx));
  KILN_TRY(kiln_check_tensor(FN, "x", x, ctx));
  KILN_TRY(kiln_check_tensor(FN, "weight", weight, ctx));
  KILN_TRY(kiln_check_output(FN, "out", out, ctx));
  KILN_TRY(kiln_check_float(FN, "eps", eps, true));
  KILN_TRY(kiln_check_float_dtype(FN, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "weight", weight, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "out", out, "x", x));
  int64_t cols = x->shape[x->ndim - 1];
  KILN_TRY(kiln_check_vector(FN, "weight", weight, "x", x));
  KILN_TRY(kiln_check_same_shape(FN, "out", out, "x", x));
  KILN_TRY(kiln_check_no_overlap(FN, "out", out, "weight", weight));
  KILN_TRY(kiln_check_in_place_or_apart(FN, "out", out, "x", x));
  kiln_op op = {.kind = KILN_OP_RMS_NORM};
  op.u.rms_norm = (kiln_rms_norm_op){
      .x = x,
      .weight = weight,
      .out = out,
      .dtype = x->dtype,
      .rows = cols ? x->numel / cols : 0,
      .cols = cols,
      .eps = eps,
  };
  KILN_TRY(kiln_check_supported(FN, ctx, &op));
  if (x->numel == 0)
    return KILN_OK;
  return kiln_dispatch(ctx, &op);
}
