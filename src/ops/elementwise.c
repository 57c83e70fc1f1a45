/* The elementwise ops: one validated struct for every unary function and
 * one for every binary one, so a backend implements two kernels. */
#include "check.h"

static kiln_status unary(const char *fn, kiln_context *ctx, kiln_unary_kind kind,
                         const kiln_tensor *x, kiln_tensor *out, float scale) {
  KILN_TRY(kiln_check_ctx(fn, ctx));
  KILN_TRY(kiln_check_tensor(fn, "x", x, ctx));
  KILN_TRY(kiln_check_output(fn, "out", out, ctx));
  KILN_TRY(kiln_check_float_dtype(fn, "x", x));
  KILN_TRY(kiln_check_dtype(fn, "out", out, "x", x));
  KILN_TRY(kiln_check_same_shape(fn, "out", out, "x", x));
  KILN_TRY(kiln_check_in_place_or_apart(fn, "out", out, "x", x));
  kiln_op op = {.kind = KILN_OP_UNARY};
  op.u.unary = (kiln_unary_op){.kind = kind, .x = x, .out = out, .dtype = x->dtype,
                               .n = x->numel, .scale = scale};
  KILN_TRY(kiln_check_supported(fn, ctx, &op));
  if (x->numel == 0)
    return KILN_OK;
  return kiln_dispatch(ctx, &op);
}

kiln_status kiln_gelu(kiln_context *ctx, const kiln_tensor *x, kiln_tensor *out,
                      int tanh_approx) {
  KILN_TRY(kiln_check_flag("kiln_gelu", "tanh_approx", tanh_approx));
  return unary("kiln_gelu", ctx, tanh_approx ? KILN_UNARY_GELU_TANH : KILN_UNARY_GELU_ERF, x,
               out, 1.0f);
}

kiln_status kiln_silu(kiln_context *ctx, const kiln_tensor *x, kiln_tensor *out) {
  return unary("kiln_silu", ctx, KILN_UNARY_SILU, x, out, 1.0f);
}

kiln_status kiln_scale(kiln_context *ctx, const kiln_tensor *x, float s, kiln_tensor *out) {
  KILN_TRY(kiln_check_float("kiln_scale", "s", s, false));
  return unary("kiln_scale", ctx, KILN_UNARY_SCALE, x, out, s);
}

/* b's shape is the last b->ndim dims of a's. */
static kiln_status check_suffix(const char *fn, const kiln_tensor *a, const kiln_tensor *b) {
  bool suffix = b->ndim <= a->ndim;
  for (int i = 0; suffix && i < b->ndim; i++)
    suffix = b->shape[i] == a->shape[a->ndim - b->ndim + i];
  if (suffix)
    return KILN_OK;
  char sa[KILN_SHAPE_STR_LEN], sb[KILN_SHAPE_STR_LEN];
  return kiln_fail(KILN_ERR_SHAPE, "%s: a is %s but b is %s; b's shape must be a's last dims "
                   "(broadcast over a's leading ones)", fn, kiln_shape_str(a, sa),
                   kiln_shape_str(b, sb));
}

static kiln_status binary(const char *fn, const char *a_name, const char *b_name,
                          kiln_context *ctx, kiln_binary_kind kind, const kiln_tensor *a,
                          const kiln_tensor *b, kiln_tensor *out) {
  KILN_TRY(kiln_check_ctx(fn, ctx));
  KILN_TRY(kiln_check_tensor(fn, a_name, a, ctx));
  KILN_TRY(kiln_check_tensor(fn, b_name, b, ctx));
  KILN_TRY(kiln_check_output(fn, "out", out, ctx));
  KILN_TRY(kiln_check_float_dtype(fn, a_name, a));
  KILN_TRY(kiln_check_dtype(fn, b_name, b, a_name, a));
  KILN_TRY(kiln_check_dtype(fn, "out", out, a_name, a));
  if (kind == KILN_BINARY_SWIGLU)
    KILN_TRY(kiln_check_same_shape(fn, b_name, b, a_name, a));
  else
    KILN_TRY(check_suffix(fn, a, b));
  KILN_TRY(kiln_check_same_shape(fn, "out", out, a_name, a));
  KILN_TRY(kiln_check_in_place_or_apart(fn, "out", out, a_name, a));
  /* out == b is in place only when b is not broadcast. */
  if (b->numel == a->numel)
    KILN_TRY(kiln_check_in_place_or_apart(fn, "out", out, b_name, b));
  else
    KILN_TRY(kiln_check_no_overlap(fn, "out", out, b_name, b));
  kiln_op op = {.kind = KILN_OP_BINARY};
  op.u.binary = (kiln_binary_op){.kind = kind, .a = a, .b = b, .out = out, .dtype = a->dtype,
                                 .n = a->numel, .b_n = b->numel};
  KILN_TRY(kiln_check_supported(fn, ctx, &op));
  if (a->numel == 0)
    return KILN_OK;
  return kiln_dispatch(ctx, &op);
}

kiln_status kiln_add(kiln_context *ctx, const kiln_tensor *a, const kiln_tensor *b,
                     kiln_tensor *out) {
  return binary("kiln_add", "a", "b", ctx, KILN_BINARY_ADD, a, b, out);
}

kiln_status kiln_mul(kiln_context *ctx, const kiln_tensor *a, const kiln_tensor *b,
                     kiln_tensor *out) {
  return binary("kiln_mul", "a", "b", ctx, KILN_BINARY_MUL, a, b, out);
}

kiln_status kiln_swiglu(kiln_context *ctx, const kiln_tensor *gate, const kiln_tensor *up,
                        kiln_tensor *out) {
  return binary("kiln_swiglu", "gate", "up", ctx, KILN_BINARY_SWIGLU, gate, up, out);
}
