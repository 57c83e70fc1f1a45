/* matmul entry point and the f32 product, which is CBLAS sgemm directly. */
#include "cpu.h"

#include <cblas.h>
#include <limits.h>
#include <omp.h>
#include <string.h>

static int ld(int64_t n) { return n > 1 ? (int)n : 1; } /* BLAS rejects a leading dim of 0 */

/* out = beta * out + bias for the rows sgemm then adds the product to with
 * beta = 1. With beta == 0 out is written without being read, so NaN
 * already in it cannot leak into the result. */
static void prefill(float *out, int64_t rows, int64_t n, float beta, const float *bias) {
  for (int64_t r = 0; r < rows; r++) {
    float *row = out + r * n;
    if (beta == 0.0f)
      for (int64_t j = 0; j < n; j++)
        row[j] = bias ? bias[j] : 0.0f;
    else
      for (int64_t j = 0; j < n; j++)
        row[j] = beta * row[j] + (bias ? bias[j] : 0.0f);
  }
}

/* One BLAS call over `rows` rows of op(a) and columns [j0, j0 + nj) of the
 * output; a, b and c point at their first row. */
static void sgemm(const kiln_matmul_op *op, int64_t rows, int64_t j0, int64_t nj, const float *a,
                  const float *b, float beta, float *c) {
  const int ldb = ld(op->transpose_b ? op->k : op->n);
  b += op->transpose_b ? j0 * op->k : j0;
  c += j0;
  /* One row (its k elements contiguous either way) is a GEMV, which
   * OpenBLAS runs faster than sgemm with M = 1. sgemv may scale c by beta
   * (read it), so with beta == 0 c is zeroed first. */
  if (rows == 1) {
    if (beta == 0.0f)
      memset(c, 0, (size_t)nj * sizeof *c);
    cblas_sgemv(CblasRowMajor, op->transpose_b ? CblasNoTrans : CblasTrans,
                (int)(op->transpose_b ? nj : op->k), (int)(op->transpose_b ? op->k : nj),
                op->alpha, b, ldb, a, 1, beta, c, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, op->transpose_a ? CblasTrans : CblasNoTrans,
              op->transpose_b ? CblasTrans : CblasNoTrans, (int)rows, (int)nj, (int)op->k,
              op->alpha, a, ld(op->transpose_a ? op->m : op->k), b, ldb, beta, c, ld(op->n));
}

/* The product over the context's threads, each one BLAS call on its own
 * columns with OpenBLAS itself on one thread. OpenBLAS's pthread pool and
 * kiln's OpenMP pool would otherwise both be awake on the same cores, each
 * spinning while the other works (9% of a 2-core run in sched_yield). */
static void sgemm_split(const kiln_matmul_op *op, int64_t rows, const float *a, const float *b,
                        float beta, float *c) {
  const int64_t n = op->n;
  const int threads = omp_get_max_threads();
  const int64_t parts = rows * n * op->k >= CPU_SPLIT_MIN && n >= 32 ? threads : 1;
  if (parts <= 1) {
    sgemm(op, rows, 0, n, a, b, beta, c);
    return;
  }
  /* Column spans in multiples of 16 (whole vectors for the kernels). */
  const int64_t span = ((n + parts - 1) / parts + 15) / 16 * 16;
#pragma omp parallel for schedule(static) num_threads((int)parts)
  for (int64_t t = 0; t < parts; t++) {
    const int64_t j0 = t * span;
    if (j0 < n)
      sgemm(op, rows, j0, n - j0 < span ? n - j0 : span, a, b, beta, c);
  }
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
  float beta = op->beta;
  /* Few rows against a weight [n, k]: kiln's own kernel (cpu_matmul_nt.c),
   * which adds into out, so out is prefilled with beta * out + bias. */
  const bool nt = s->matmul_nt && op->transpose_b && !op->transpose_a && m > 1 &&
                  m <= CPU_NT_MAX_ROWS && k > 0;
  float *xt = NULL;
  if (nt) {
    xt = kiln_cpu_scratch(s, (size_t)kiln_cpu_matmul_nt_scratch(m, k), "kiln_matmul");
    if (!xt)
      return KILN_ERR_OUT_OF_MEMORY;
  }
  if (bias || k == 0 || nt) {
    prefill(out, op->batch * m, n, beta, bias);
    beta = 1.0f;
  }
  if (k == 0)
    return KILN_OK;
  if (nt) {
    for (int64_t i = 0; i < op->batch; i++)
      kiln_cpu_matmul_nt(m, n, k, op->alpha, a + i * op->stride_a, k, b + i * op->stride_b, k,
                         out + i * op->stride_c, n, xt);
    return KILN_OK;
  }
  const int blas_threads = openblas_get_num_threads();
  if (blas_threads != 1)
    openblas_set_num_threads(1);
  /* src/ops/ has folded what batches it could into m (kiln_matmul_op). */
  const int64_t chunk = op->transpose_a ? m : INT_MAX;
  for (int64_t i = 0; i < op->batch; i++)
    for (int64_t r = 0; r < m; r += chunk) {
      const int64_t rows = m - r < chunk ? m - r : chunk;
      sgemm_split(op, rows, a + i * op->stride_a + r * k, b + i * op->stride_b, beta,
                  out + i * op->stride_c + r * n);
    }
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
