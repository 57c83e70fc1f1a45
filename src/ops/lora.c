/* kiln_lora_linear: checked once here, then the backend's fused kernel, or
 * the composite of three matmuls through kiln_dispatch (so a CPU graph
 * records it like any other ops). */
#include "check.h"

static const char *const FN = "kiln_lora_linear";

static kiln_status check_tensors(kiln_context *ctx, const kiln_tensor *x, const kiln_tensor *w,
                                 const kiln_tensor *bias, const kiln_tensor *a,
                                 const kiln_tensor *b, float scale, const kiln_tensor *out) {
  KILN_TRY(kiln_check_ctx(FN, ctx));
  KILN_TRY(kiln_check_tensor(FN, "x", x, ctx));
  KILN_TRY(kiln_check_tensor(FN, "w", w, ctx));
  if (bias)
    KILN_TRY(kiln_check_tensor(FN, "bias", bias, ctx));
  KILN_TRY(kiln_check_tensor(FN, "a", a, ctx));
  KILN_TRY(kiln_check_tensor(FN, "b", b, ctx));
  KILN_TRY(kiln_check_output(FN, "out", out, ctx));
  KILN_TRY(kiln_check_float(FN, "scale", scale, false));
  KILN_TRY(kiln_check_float_dtype(FN, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "w", w, "x", x));
  if (bias)
    KILN_TRY(kiln_check_dtype(FN, "bias", bias, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "a", a, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "b", b, "x", x));
  return kiln_check_dtype(FN, "out", out, "x", x);
}

/* t is a 2-D [rows, cols] matrix; says which argument and shape differ. */
static kiln_status check_matrix(const char *name, const kiln_tensor *t, int64_t rows,
                                int64_t cols, const char *why) {
  if (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols)
    return KILN_OK;
  char s[KILN_SHAPE_STR_LEN];
  return kiln_fail(KILN_ERR_SHAPE, "%s: %s is %s; it must be [%lld, %lld] (%s)", FN, name,
                   kiln_shape_str(t, s), (long long)rows, (long long)cols, why);
}

static kiln_status check_shapes(const kiln_tensor *x, const kiln_tensor *w,
                                const kiln_tensor *bias, const kiln_tensor *a,
                                const kiln_tensor *b, const kiln_tensor *out, kiln_lora_op *op) {
  char s1[KILN_SHAPE_STR_LEN], s2[KILN_SHAPE_STR_LEN];
  const int64_t in = x->shape[x->ndim - 1];
  if (w->ndim != 2 || w->shape[1] != in)
    return kiln_fail(KILN_ERR_SHAPE, "%s: x is %s but w is %s; w must be [out, %lld] (the "
                     "nn.Linear layout)", FN, kiln_shape_str(x, s1), kiln_shape_str(w, s2),
                     (long long)in);
  const int64_t n = w->shape[0];
  if (a->ndim != 2 || a->shape[1] != in || a->shape[0] < 1)
    return kiln_fail(KILN_ERR_SHAPE, "%s: x is %s but a is %s; a must be [r, %lld] with rank "
                     "r >= 1 (lora_A.weight)", FN, kiln_shape_str(x, s1), kiln_shape_str(a, s2),
                     (long long)in);
  const int64_t rank = a->shape[0];
  KILN_TRY(check_matrix("b", b, n, rank, "w's out dim, a's rank: lora_B.weight"));
  if (bias && (bias->ndim != 1 || bias->shape[0] != n))
    return kiln_fail(KILN_ERR_SHAPE, "%s: w is %s but bias is %s; bias must be [%lld]", FN,
                     kiln_shape_str(w, s1), kiln_shape_str(bias, s2), (long long)n);
  bool fits = out->ndim == x->ndim && out->shape[out->ndim - 1] == n;
  for (int i = 0; fits && i < x->ndim - 1; i++)
    fits = out->shape[i] == x->shape[i];
  if (!fits)
    return kiln_fail(KILN_ERR_SHAPE, "%s: x is %s and w is %s, so out must be [..., %lld] with "
                     "x's leading dims, but out is %s", FN, kiln_shape_str(x, s1),
                     kiln_shape_str(w, s2), (long long)n, kiln_shape_str(out, s1));
  op->in = in;
  op->n = n;
  op->rank = rank;
  return KILN_OK;
}

/* One matmul of the composite: out [rows, n] = alpha * a [rows, k] @ b^T
 * (b stored [n, k], the Linear layout) + beta * out (+ bias). */
static kiln_status linear(kiln_context *ctx, const kiln_lora_op *op, const kiln_tensor *a,
                          const kiln_tensor *b, const kiln_tensor *bias, kiln_tensor *out,
                          int64_t n, int64_t k, float alpha, float beta) {
  kiln_op mm = {.kind = KILN_OP_MATMUL};
  mm.u.matmul = (kiln_matmul_op){
      .a = a, .b = b, .bias = bias, .out = out, .dtype = op->dtype, .batch = 1,
      .m = op->rows, .n = n, .k = k, .transpose_b = true, .alpha = alpha, .beta = beta,
  };
  kiln_matmul_fold(&mm.u.matmul, false);
  KILN_TRY(kiln_check_supported(FN, ctx, &mm));
  return kiln_dispatch(ctx, &mm);
}

/* out = x w^T + bias; t = x a^T; out += scale * t b^T. */
static kiln_status composite(kiln_context *ctx, const kiln_lora_op *op) {
  kiln_tensor *t = NULL;
  /* rows * rank can exceed memory where x has no columns (in = 0, so a is
   * [r, 0], empty for any r): t is then too large to hold. */
  const int64_t t_dims[3] = {op->rows, op->rank, (int64_t)kiln_dtype_size(op->dtype)};
  int64_t t_bytes = 0;
  if (!kiln_dims_product(t_dims, 3, &t_bytes))
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: x has %lld rows and a's rank is %lld: the "
                     "intermediate x a^T is larger than memory can address", FN,
                     (long long)op->rows, (long long)op->rank);
  KILN_TRY(kiln_context_scratch(ctx, (size_t)t_bytes, FN, &t));
  KILN_TRY(linear(ctx, op, op->x, op->w, op->bias, op->out, op->n, op->in, 1.0f, 0.0f));
  KILN_TRY(linear(ctx, op, op->x, op->a, NULL, t, op->rank, op->in, 1.0f, 0.0f));
  return linear(ctx, op, t, op->b, NULL, op->out, op->n, op->rank, op->scale, 1.0f);
}

kiln_status kiln_lora_linear(kiln_context *ctx, const kiln_tensor *x, const kiln_tensor *w,
                             const kiln_tensor *bias, const kiln_tensor *a, const kiln_tensor *b,
                             float scale, kiln_tensor *out) {
  KILN_TRY(check_tensors(ctx, x, w, bias, a, b, scale, out));
  kiln_op op = {.kind = KILN_OP_LORA};
  kiln_lora_op *lo = &op.u.lora;
  KILN_TRY(check_shapes(x, w, bias, a, b, out, lo));
  const kiln_tensor *inputs[] = {x, w, bias, a, b};
  const char *names[] = {"x", "w", "bias", "a", "b"};
  for (int i = 0; i < 5; i++)
    KILN_TRY(kiln_check_no_overlap(FN, "out", out, names[i], inputs[i]));
  if (out->numel == 0) /* before any product: an empty out's other dims may be huge */
    return KILN_OK;
  KILN_TRY(kiln_check_dims_product(FN, "x", x, 0, x->ndim - 1, &lo->rows));
  *lo = (kiln_lora_op){.x = x, .w = w, .bias = bias, .a = a, .b = b, .out = out,
                       .dtype = x->dtype, .rows = lo->rows, .in = lo->in, .n = lo->n,
                       .rank = lo->rank, .scale = scale};
  if (!ctx->prefer_composite && kiln_backend_runs(ctx, &op))
    return kiln_dispatch(ctx, &op);
  return composite(ctx, lo);
}
