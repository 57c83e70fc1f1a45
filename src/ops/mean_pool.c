/* kiln_mean_pool: every argument checked here, then the backend's one
 * kernel, or the composite of basic ops (the fused switch off, or a
 * backend that does not take the op): per sequence a matmul of a row of
 * ones by its rows with alpha = 1 / length, then rms_norm and scale for the
 * L2 step. The composite reads the lengths on the host, so it cannot be
 * captured; it is the test oracle. */
#include "check.h"
#include "pool_lengths.h"

#include <math.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

static const char *const FN = "kiln_mean_pool";

static kiln_status check_i32(const char *name, const kiln_tensor *t, int64_t len,
                             const char *what) {
  char s[KILN_SHAPE_STR_LEN];
  if (t->dtype != KILN_I32)
    return kiln_fail(KILN_ERR_DTYPE, "%s: %s is %s %s; it must be i32", FN, name,
                     kiln_dtype_name(t->dtype), kiln_shape_str(t, s));
  if (t->ndim != 1 || t->shape[0] != len)
    return kiln_fail(KILN_ERR_SHAPE, "%s: %s is %s; it must be [%lld] (%s)", FN, name,
                     kiln_shape_str(t, s), (long long)len, what);
  return KILN_OK;
}

/* The layout from x's rank; fills the op's sizes. */
static kiln_status check_layout(const kiln_tensor *x, const kiln_tensor *lengths,
                                const kiln_tensor *out, kiln_mean_pool_op *op) {
  char sx[KILN_SHAPE_STR_LEN], so[KILN_SHAPE_STR_LEN];
  if (x->ndim == 2) {
    if (!lengths)
      return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: x is %s, the varlen layout, which needs "
                       "lengths = cu_seqlens [B + 1]; it is NULL", FN, kiln_shape_str(x, sx));
    if (lengths->ndim != 1 || lengths->shape[0] < 1)
      return kiln_fail(KILN_ERR_SHAPE, "%s: cu_seqlens is %s; it must be [B + 1] with B >= 0",
                       FN, kiln_shape_str(lengths, sx));
    op->varlen = true;
    op->batch = lengths->shape[0] - 1;
    op->total = x->shape[0];
    KILN_TRY(check_i32("cu_seqlens", lengths, op->batch + 1, "B + 1 offsets"));
  } else if (x->ndim == 3) {
    op->varlen = false;
    op->batch = x->shape[0];
    op->seq = x->shape[1];
    op->total = x->shape[0] * x->shape[1]; /* x's numel / H: no overflow */
    if (lengths)
      KILN_TRY(check_i32("seqlens", lengths, op->batch, "one length per sequence of x"));
  } else {
    return kiln_fail(KILN_ERR_SHAPE, "%s: x is %s; it must be [T, H] (varlen, with cu_seqlens) "
                     "or [B, S, H] (padded)", FN, kiln_shape_str(x, sx));
  }
  op->cols = x->shape[x->ndim - 1];
  if (out->ndim != 2 || out->shape[0] != op->batch || out->shape[1] != op->cols)
    return kiln_fail(KILN_ERR_SHAPE, "%s: out is %s but x is %s with %lld sequences; out must "
                     "be [%lld, %lld]", FN, kiln_shape_str(out, so), kiln_shape_str(x, sx),
                     (long long)op->batch, (long long)op->batch, (long long)op->cols);
  return KILN_OK;
}

static kiln_status check_args(kiln_context *ctx, const kiln_tensor *x, const kiln_tensor *lengths,
                              int normalize, const kiln_tensor *out, kiln_mean_pool_op *op) {
  KILN_TRY(kiln_check_ctx(FN, ctx));
  KILN_TRY(kiln_check_tensor(FN, "x", x, ctx));
  if (lengths)
    KILN_TRY(kiln_check_tensor(FN, x->ndim == 3 ? "seqlens" : "cu_seqlens", lengths, ctx));
  KILN_TRY(kiln_check_output(FN, "out", out, ctx));
  KILN_TRY(kiln_check_flag(FN, "normalize", normalize));
  KILN_TRY(kiln_check_float_dtype(FN, "x", x));
  KILN_TRY(kiln_check_dtype(FN, "out", out, "x", x));
  KILN_TRY(check_layout(x, lengths, out, op));
  KILN_TRY(kiln_check_no_overlap(FN, "out", out, "x", x));
  return kiln_check_no_overlap(FN, "out", out, op->varlen ? "cu_seqlens" : "seqlens", lengths);
}

/* ---- the composite */

static kiln_tensor view(kiln_context *ctx, kiln_dtype dtype, void *data, int64_t rows,
                        int64_t cols) {
  kiln_tensor t = {.ctx = ctx, .dtype = dtype, .ndim = 2, .shape = {rows, cols},
                   .numel = rows * cols, .data = data};
  t.nbytes = (size_t)t.numel * kiln_dtype_size(dtype);
  return t;
}

/* n ones of dtype into host memory at p. */
static void fill_ones(kiln_dtype dtype, void *p, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    if (dtype == KILN_F32)
      ((float *)p)[i] = 1.0f;
    else
      ((uint16_t *)p)[i] = dtype == KILN_F16 ? 0x3c00 : 0x3f80;
  }
}

/* The lengths on the host (NULL when the op has none), checked. */
static kiln_status read_lengths(kiln_context *ctx, const kiln_mean_pool_op *op, int32_t **out) {
  *out = NULL;
  if (!op->lengths)
    return KILN_OK;
  int32_t *len = malloc(op->lengths->nbytes);
  if (!len)
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of host memory", FN);
  kiln_status s = ctx->backend->download(ctx->state, len, op->lengths->data, op->lengths->nbytes);
  if (s == KILN_OK)
    s = kiln_mean_pool_check_lengths(op, len);
  if (s != KILN_OK) {
    free(len);
    return s;
  }
  *out = len;
  return KILN_OK;
}

static kiln_status run_composite(kiln_context *ctx, const kiln_mean_pool_op *op,
                                 const int32_t *len, void *host, const kiln_tensor *scratch) {
  const size_t es = kiln_dtype_size(op->dtype), row_bytes = (size_t)op->cols * es;
  for (int64_t b = 0; b < op->batch; b++) {
    int64_t start, count;
    kiln_mean_pool_sequence(op, len, b, &start, &count);
    char *out_row = (char *)op->out->data + (size_t)b * row_bytes;
    if (count == 0) { /* zeros: all bits 0 in every dtype */
      KILN_TRY(ctx->backend->upload(ctx->state, out_row, host, row_bytes));
      continue;
    }
    kiln_tensor ones = view(ctx, op->dtype, scratch->data, 1, count);
    kiln_tensor rows = view(ctx, op->dtype, (char *)op->x->data + (size_t)start * row_bytes,
                            count, op->cols);
    kiln_tensor mean = view(ctx, op->dtype, out_row, 1, op->cols);
    kiln_op mm = {.kind = KILN_OP_MATMUL};
    mm.u.matmul = (kiln_matmul_op){.a = &ones, .b = &rows, .out = &mean, .dtype = op->dtype,
                                   .batch = 1, .m = 1, .n = op->cols, .k = count,
                                   .alpha = (float)(1.0 / (double)count)};
    kiln_matmul_fold(&mm.u.matmul, false);
    KILN_TRY(kiln_dispatch(ctx, &mm));
  }
  if (!op->normalize)
    return KILN_OK;
  /* x / |x| as rms_norm (x / sqrt(|x|^2 / H + eps), weight of ones) times
   * 1 / sqrt(H); eps below any real |x|^2 / H keeps a zero row at zero. */
  kiln_tensor all = view(ctx, op->dtype, op->out->data, op->batch, op->cols);
  kiln_tensor weight = view(ctx, op->dtype, scratch->data, 1, op->cols);
  weight.ndim = 1;
  weight.shape[0] = op->cols;
  kiln_op norm = {.kind = KILN_OP_RMS_NORM};
  norm.u.rms_norm = (kiln_rms_norm_op){.x = &all, .weight = &weight, .out = &all,
                                       .dtype = op->dtype, .rows = op->batch, .cols = op->cols,
                                       .eps = FLT_MIN};
  KILN_TRY(kiln_dispatch(ctx, &norm));
  kiln_op scale = {.kind = KILN_OP_UNARY};
  scale.u.unary = (kiln_unary_op){.kind = KILN_UNARY_SCALE, .x = &all, .out = &all,
                                  .dtype = op->dtype, .n = op->batch * op->cols,
                                  .scale = (float)(1.0 / sqrt((double)op->cols))};
  return kiln_dispatch(ctx, &scale);
}

static kiln_status composite(kiln_context *ctx, const kiln_mean_pool_op *op) {
  if (ctx->capturing)
    return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: the composite path (matmul, rms_norm, scale) "
                     "reads the lengths on the host, so it cannot be captured in a graph; "
                     "capture the fused op (kiln_context_use_fused(ctx, 1))", FN);
  KILN_TRY(kiln_check_backend_has(FN, ctx, kiln_backend_has(ctx, KILN_OP_MATMUL) &&
                                               kiln_backend_has(ctx, KILN_OP_RMS_NORM) &&
                                               kiln_backend_has(ctx, KILN_OP_UNARY)));
  int32_t *len;
  KILN_TRY(read_lengths(ctx, op, &len));
  /* The ones: a row as long as the longest sequence, or as H for the
   * normalization's weight. */
  int64_t n = op->cols;
  for (int64_t b = 0; b < op->batch; b++) {
    int64_t start, count;
    kiln_mean_pool_sequence(op, len, b, &start, &count);
    n = count > n ? count : n;
  }
  const size_t es = kiln_dtype_size(op->dtype);
  const size_t host_bytes = (size_t)n * es;
  void *host = calloc(1, host_bytes);
  kiln_tensor *scratch = NULL;
  kiln_status s = host ? KILN_OK : kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of host memory", FN);
  if (s == KILN_OK)
    s = kiln_context_scratch(ctx, host_bytes, FN, &scratch);
  if (s == KILN_OK) {
    fill_ones(op->dtype, host, n);
    s = ctx->backend->upload(ctx->state, scratch->data, host, host_bytes);
  }
  if (s == KILN_OK) {
    memset(host, 0, (size_t)op->cols * es); /* the zero row for an empty sequence */
    s = run_composite(ctx, op, len, host, scratch);
  }
  free(host);
  free(len);
  return s;
}

kiln_status kiln_mean_pool(kiln_context *ctx, const kiln_tensor *x, const kiln_tensor *lengths,
                           int normalize, kiln_tensor *out) {
  kiln_op op = {.kind = KILN_OP_MEAN_POOL};
  kiln_mean_pool_op *p = &op.u.mean_pool;
  *p = (kiln_mean_pool_op){.x = x, .lengths = lengths, .out = out, .normalize = normalize != 0};
  KILN_TRY(check_args(ctx, x, lengths, normalize, out, p));
  p->dtype = x->dtype;
  if (out->numel == 0)
    return KILN_OK;
  if (!ctx->prefer_composite && kiln_backend_runs(ctx, &op))
    return kiln_dispatch(ctx, &op);
  return composite(ctx, p);
}
