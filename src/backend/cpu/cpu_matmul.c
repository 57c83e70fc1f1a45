/* matmul entry point and the f32 product, which is CBLAS sgemm directly. */
#include "cpu.h"

#include <cblas.h>
#include <limits.h>
#include <omp.h>
#include <string.h>

static int ld(int64_t n) { return n > 1 ? (int)n : 1; } /* BLAS rejects a leading dim of 0 */

/* out = beta * out + bias for a block of rows x cols (ld ldo; bias from its
 * first column), which sgemm then adds the product to with beta = 1. With
 * beta == 0 out is written without being read, so NaN already in it cannot
 * leak into the result. */
static void prefill(float *out, int64_t rows, int64_t cols, int64_t ldo, float beta,
                    const float *bias) {
  for (int64_t r = 0; r < rows; r++) {
    float *row = out + r * ldo;
    if (beta == 0.0f && bias)
      memcpy(row, bias, (size_t)cols * sizeof *row);
    else if (beta == 0.0f)
      memset(row, 0, (size_t)cols * sizeof *row);
    else if (bias)
      for (int64_t j = 0; j < cols; j++)
        row[j] = beta * row[j] + bias[j];
    else
      for (int64_t j = 0; j < cols; j++)
        row[j] = beta * row[j];
  }
}

/* One BLAS call for the output block rows [i0, i0 + ni) x columns
 * [j0, j0 + nj) of one batch's product; a, b and c point at the batch's
 * first element. With a bias the block is prefilled first (beta becomes 1),
 * by the thread that multiplies it, while it is in that core's cache. */
static void gemm_product(const kiln_matmul_op *op, int64_t i0, int64_t ni, int64_t j0,
                         int64_t nj, const float *a, const float *b, float *c) {
  const int64_t n = op->n, k = op->k;
  const float *bias = op->bias ? (const float *)op->bias->data + j0 : NULL;
  float beta = op->beta;
  a += op->transpose_a ? i0 : i0 * k;
  b += op->transpose_b ? j0 * k : j0;
  c += i0 * n + j0;
  if (bias) {
    prefill(c, ni, nj, n, beta, bias);
    beta = 1.0f;
  }
  const int lda = ld(op->transpose_a ? op->m : k), ldb = ld(op->transpose_b ? k : n);
  /* One row is a GEMV, which OpenBLAS runs faster than sgemm with M = 1
   * (its k elements lda apart in a transposed a). sgemv may scale c by beta
   * (read it), so with beta == 0 c is zeroed first. */
  if (ni == 1) {
    if (beta == 0.0f)
      memset(c, 0, (size_t)nj * sizeof *c);
    cblas_sgemv(CblasRowMajor, op->transpose_b ? CblasNoTrans : CblasTrans,
                (int)(op->transpose_b ? nj : k), (int)(op->transpose_b ? k : nj), op->alpha, b,
                ldb, a, op->transpose_a ? lda : 1, beta, c, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, op->transpose_a ? CblasTrans : CblasNoTrans,
              op->transpose_b ? CblasTrans : CblasNoTrans, (int)ni, (int)nj, (int)k, op->alpha,
              a, lda, b, ldb, beta, c, ld(n));
}

/* gemm_product, then the activation over the block on the same thread, while
 * the block is fresh (no second pass over out, no second parallel region). */
static void gemm_block(const cpu_state *s, const kiln_matmul_op *op, int64_t i0, int64_t ni,
                       int64_t j0, int64_t nj, const float *a, const float *b, float *c) {
  gemm_product(op, i0, ni, j0, nj, a, b, c);
  kiln_cpu_activate(s, op->activation, c + i0 * op->n + j0, ni, nj, op->n);
}

/* One batch's product over the context's threads, each one BLAS call on
 * its own block, with OpenBLAS itself on one thread. OpenBLAS's pthread
 * pool and kiln's OpenMP pool would otherwise both be awake on the same
 * cores, each spinning while the other works (9% of a 2-core run in
 * sched_yield). The larger of m and n is split: each thread packs all of
 * the other operand (OpenBLAS copies both into panels), so splitting the
 * activations' rows of a tall product packs the small weight twice, not
 * the large activations. */
static void gemm_split(const cpu_state *s, const kiln_matmul_op *op, int64_t r0, int64_t m,
                       const float *a, const float *b, float *c) {
  const int64_t n = op->n;
  const int threads = omp_get_max_threads();
  const int64_t parts = m * n * op->k >= CPU_SPLIT_MIN && (m >= 32 || n >= 32) ? threads : 1;
  if (parts <= 1) {
    gemm_block(s, op, r0, m, 0, n, a, b, c);
    return;
  }
  const bool by_rows = m >= n;
  const int64_t len = by_rows ? m : n;
  /* Spans in multiples of 16 (whole vectors for the kernels). */
  const int64_t span = ((len + parts - 1) / parts + 15) / 16 * 16;
#pragma omp parallel for schedule(static) num_threads((int)parts)
  for (int64_t t = 0; t < parts; t++) {
    const int64_t s0 = t * span, sn = len - s0 < span ? len - s0 : span;
    if (sn <= 0)
      continue;
    if (by_rows)
      gemm_block(s, op, r0 + s0, sn, 0, n, a, b, c);
    else
      gemm_block(s, op, r0, m, s0, sn, a, b, c);
  }
}

/* The activation over all of out, rows split over the threads: for the
 * paths whose kernel fills out in pieces that do not end together. */
static void activate_all(const cpu_state *s, const kiln_matmul_op *op) {
  const int64_t rows = op->batch * op->m, n = op->n;
  if (op->activation == KILN_ACTIVATION_NONE)
    return;
  float *out = op->out->data;
#pragma omp parallel for schedule(static) if (rows * n > CPU_PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++)
    kiln_cpu_activate(s, op->activation, out + r * n, 1, n, n);
}

static kiln_status matmul_f32(cpu_state *s, const kiln_matmul_op *op) {
  const int64_t m = op->m, n = op->n, k = op->k;
  /* Rows of a as stored are split into BLAS calls of at most INT_MAX;
   * a transposed a has m as its leading dimension, which cannot be. */
  if ((op->transpose_a && m > INT_MAX) || n > INT_MAX || k > INT_MAX)
    return kiln_fail(KILN_ERR_UNSUPPORTED,
                     "kiln_matmul: m %lld, n %lld, k %lld: the CPU's BLAS takes dimensions up "
                     "to %d",
                     (long long)m, (long long)n, (long long)k, INT_MAX);
  const float *a = op->a->data, *b = op->b->data;
  const float *bias = op->bias ? op->bias->data : NULL;
  float *out = op->out->data;
  if (k == 0) {
    prefill(out, op->batch * m, n, n, op->beta, bias);
    activate_all(s, op);
    return KILN_OK;
  }
  /* Few rows against a weight [n, k]: kiln's own kernel (cpu_matmul_nt.c),
   * which adds into out, so out is prefilled with beta * out + bias. */
  if (s->matmul_nt && op->transpose_b && !op->transpose_a && m > 1 && m <= CPU_NT_MAX_ROWS) {
    float *xt = kiln_cpu_scratch(s, (size_t)kiln_cpu_matmul_nt_scratch(m, k), "kiln_matmul");
    if (!xt)
      return KILN_ERR_OUT_OF_MEMORY;
    prefill(out, op->batch * m, n, n, op->beta, bias);
    for (int64_t i = 0; i < op->batch; i++)
      kiln_cpu_matmul_nt(m, n, k, op->alpha, a + i * op->stride_a, k, b + i * op->stride_b, k,
                         out + i * op->stride_c, n, xt);
    activate_all(s, op);
    return KILN_OK;
  }
  const int blas_threads = openblas_get_num_threads();
  if (blas_threads != 1)
    openblas_set_num_threads(1);
  /* src/ops/ has folded what batches it could into m (kiln_matmul_op). */
  const int64_t chunk = op->transpose_a ? m : INT_MAX;
  for (int64_t i = 0; i < op->batch; i++)
    for (int64_t r = 0; r < m; r += chunk)
      gemm_split(s, op, r, m - r < chunk ? m - r : chunk, a + i * op->stride_a,
                 b + i * op->stride_b, out + i * op->stride_c);
  if (blas_threads != 1)
    openblas_set_num_threads(blas_threads);
  return KILN_OK;
}

static kiln_status matmul(void *state, const kiln_matmul_op *op) {
  if (op->batch == 0 || op->m == 0 || op->n == 0)
    return KILN_OK;
  if (op->dtype == KILN_F32)
    return matmul_f32(state, op);
  return kiln_cpu_matmul_tiled(state, op);
}

KILN_CPU_OP(matmul, matmul, NULL);
