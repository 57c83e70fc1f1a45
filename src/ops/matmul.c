/* kiln_matmul: every argument checked here, once for all backends. */
#include "check.h"

static const char *const FN = "kiln_matmul";

static kiln_status check_tensors(kiln_context *ctx, const kiln_tensor *a, const kiln_tensor *b,
                                 const kiln_tensor *out, const kiln_matmul_params *p) {
  KILN_TRY(kiln_check_ctx(FN, ctx));
  KILN_TRY(kiln_check_tensor(FN, "a", a, ctx));
  KILN_TRY(kiln_check_tensor(FN, "b", b, ctx));
  KILN_TRY(kiln_check_output(FN, "out", out, ctx));
  if (p->bias)
    KILN_TRY(kiln_check_tensor(FN, "bias", p->bias, ctx));
  KILN_TRY(kiln_check_flag(FN, "transpose_a", p->transpose_a));
  KILN_TRY(kiln_check_flag(FN, "transpose_b", p->transpose_b));
  KILN_TRY(kiln_check_float(FN, "alpha", p->alpha, false));
  KILN_TRY(kiln_check_float(FN, "beta", p->beta, false));
  if (p->activation != KILN_ACTIVATION_NONE && p->activation != KILN_ACTIVATION_GELU &&
      p->activation != KILN_ACTIVATION_GELU_TANH)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "%s: activation is %d; it must be KILN_ACTIVATION_NONE, _GELU or _GELU_TANH",
                     FN, (int)p->activation);
  KILN_TRY(kiln_check_float_dtype(FN, "a", a));
  KILN_TRY(kiln_check_dtype(FN, "b", b, "a", a));
  KILN_TRY(kiln_check_dtype(FN, "out", out, "a", a));
  if (p->bias)
    KILN_TRY(kiln_check_dtype(FN, "bias", p->bias, "a", a));
  return KILN_OK;
}

/* a: [..., M, K], b: [K, N] or [..., K, N]; reads M, N, K off the shapes. */
static kiln_status check_shapes(const kiln_tensor *a, const kiln_tensor *b,
                                const kiln_tensor *out, const kiln_matmul_params *p,
                                kiln_matmul_op *op, bool *b_batched) {
  char sa[KILN_SHAPE_STR_LEN], sb[KILN_SHAPE_STR_LEN], so[KILN_SHAPE_STR_LEN];
  if (a->ndim < 2)
    return kiln_fail(KILN_ERR_SHAPE, "%s: a is %s; it needs at least 2 dims", FN,
                     kiln_shape_str(a, sa));
  if (b->ndim != 2 && b->ndim != a->ndim)
    return kiln_fail(KILN_ERR_SHAPE, "%s: a is %s but b is %s; b must have 2 dims or as many "
                     "as a", FN, kiln_shape_str(a, sa), kiln_shape_str(b, sb));
  int ab = a->ndim - 2, bb = b->ndim - 2;
  for (int i = 0; i < bb; i++)
    if (a->shape[i] != b->shape[i])
      return kiln_fail(KILN_ERR_SHAPE, "%s: a is %s but b is %s: batch dimension %d differs "
                       "(%lld and %lld)", FN, kiln_shape_str(a, sa), kiln_shape_str(b, sb), i,
                       (long long)a->shape[i], (long long)b->shape[i]);
  int64_t m = a->shape[ab + (p->transpose_a ? 1 : 0)], ka = a->shape[ab + (p->transpose_a ? 0 : 1)];
  int64_t kb = b->shape[bb + (p->transpose_b ? 1 : 0)], n = b->shape[bb + (p->transpose_b ? 0 : 1)];
  if (ka != kb)
    return kiln_fail(KILN_ERR_SHAPE, "%s: a is %s%s but b is %s%s: inner dimensions %lld and "
                     "%lld differ", FN, kiln_shape_str(a, sa), p->transpose_a ? " (transposed)" : "",
                     kiln_shape_str(b, sb), p->transpose_b ? " (transposed)" : "",
                     (long long)ka, (long long)kb);
  bool fits = out->ndim == a->ndim && out->shape[ab] == m && out->shape[ab + 1] == n;
  for (int i = 0; fits && i < ab; i++)
    fits = out->shape[i] == a->shape[i];
  if (!fits)
    return kiln_fail(KILN_ERR_SHAPE, "%s: a is %s and b is %s, so out must be [..., %lld, %lld] "
                     "with a's batch dims, but out is %s", FN, kiln_shape_str(a, sa),
                     kiln_shape_str(b, sb), (long long)m, (long long)n, kiln_shape_str(out, so));
  if (p->bias && (p->bias->ndim != 1 || p->bias->shape[0] != n))
    return kiln_fail(KILN_ERR_SHAPE, "%s: bias is %s but out is %s; bias must be [%lld]", FN,
                     kiln_shape_str(p->bias, sa), kiln_shape_str(out, so), (long long)n);
  op->m = m;
  op->n = n;
  op->k = ka;
  op->transpose_a = p->transpose_a;
  *b_batched = bb > 0;
  return KILN_OK;
}

void kiln_matmul_fold(kiln_matmul_op *op, bool b_batched) {
  op->stride_a = op->m * op->k;
  op->stride_b = b_batched ? op->k * op->n : 0;
  op->stride_c = op->m * op->n;
  /* One b for every batch and a's rows contiguous across batches: the
   * batch is just more rows of one product. */
  if (!b_batched && !op->transpose_a) {
    op->m *= op->batch;
    op->batch = 1;
    op->stride_a = op->stride_c = 0;
  }
}

/* The product without its activation, then the activation as kiln_gelu on
 * out in place: each step rounds to the dtype. */
static kiln_status composite(kiln_context *ctx, const kiln_matmul_op *mm) {
  kiln_op product = {.kind = KILN_OP_MATMUL}, act = {.kind = KILN_OP_UNARY};
  product.u.matmul = *mm;
  product.u.matmul.activation = KILN_ACTIVATION_NONE;
  act.u.unary = (kiln_unary_op){.kind = kiln_activation_unary(mm->activation), .x = mm->out,
                                .out = mm->out, .dtype = mm->dtype, .n = mm->out->numel,
                                .scale = 1.0f};
  KILN_TRY(kiln_check_supported(FN, ctx, &product));
  KILN_TRY(kiln_check_supported(FN, ctx, &act));
  if (mm->out->numel == 0)
    return KILN_OK;
  KILN_TRY(kiln_dispatch(ctx, &product));
  return kiln_dispatch(ctx, &act);
}

kiln_status kiln_matmul(kiln_context *ctx, const kiln_tensor *a, const kiln_tensor *b,
                        kiln_tensor *out, const kiln_matmul_params *p) {
  const kiln_matmul_params plain = {.alpha = 1.0f};
  if (!p)
    p = &plain;
  KILN_TRY(check_tensors(ctx, a, b, out, p));
  kiln_op op = {.kind = KILN_OP_MATMUL};
  kiln_matmul_op *mm = &op.u.matmul;
  bool b_batched = false;
  KILN_TRY(check_shapes(a, b, out, p, mm, &b_batched));
  KILN_TRY(kiln_check_no_overlap(FN, "out", out, "a", a));
  KILN_TRY(kiln_check_no_overlap(FN, "out", out, "b", b));
  KILN_TRY(kiln_check_no_overlap(FN, "out", out, "bias", p->bias));
  /* Dimensions are multiplied (the batch, the fold's strides) only for a
   * non-empty out, where they fit: an empty out's other dims may multiply
   * past INT64_MAX. An empty op keeps batch 0. */
  if (out->numel > 0) {
    KILN_TRY(kiln_check_dims_product(FN, "a", a, 0, a->ndim - 2, &mm->batch));
    kiln_matmul_fold(mm, b_batched);
  }
  mm->a = a;
  mm->b = b;
  mm->bias = p->bias;
  mm->out = out;
  mm->dtype = a->dtype;
  mm->transpose_b = p->transpose_b;
  mm->alpha = p->alpha;
  mm->beta = p->beta;
  mm->activation = p->activation;
  if (mm->activation != KILN_ACTIVATION_NONE &&
      (ctx->prefer_composite || !kiln_backend_runs(ctx, &op)))
    return composite(ctx, mm);
  KILN_TRY(kiln_check_supported(FN, ctx, &op));
  if (out->numel == 0)
    return KILN_OK;
  return kiln_dispatch(ctx, &op);
}
