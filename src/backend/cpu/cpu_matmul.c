/* matmul entry point and the f32 product, which is CBLAS sgemm directly. */
#include "cpu.h"

#include <cblas.h>
#include <limits.h>
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

/* One sgemm over `rows` rows of op(a); a, b and c point at their first. */
static void sgemm(const kiln_matmul_op *op, int64_t rows, const float *a, const float *b,
                  float beta, float *c) {
  /* One row (its k elements contiguous either way) is a GEMV, which
   * OpenBLAS runs faster than sgemm with M = 1. sgemv may scale c by beta
   * (read it), so with beta == 0 c is zeroed first. */
  if (rows == 1) {
    if (beta == 0.0f)
      memset(c, 0, (size_t)op->n * sizeof *c);
    cblas_sgemv(CblasRowMajor, op->transpose_b ? CblasNoTrans : CblasTrans,
                (int)(op->transpose_b ? op->n : op->k), (int)(op->transpose_b ? op->k : op->n),
                op->alpha, b, ld(op->transpose_b ? op->k : op->n), a, 1, beta, c, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, op->transpose_a ? CblasTrans : CblasNoTrans,
              op->transpose_b ? CblasTrans : CblasNoTrans, (int)rows, (int)op->n, (int)op->k,
              op->alpha, a, ld(op->transpose_a ? op->m : op->k), b,
              ld(op->transpose_b ? op->k : op->n), beta, c, ld(op->n));
}

static kiln_status matmul_f32(const kiln_matmul_op *op) {
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
  if (bias || k == 0) {
    prefill(out, op->batch * m, n, beta, bias);
    beta = 1.0f;
  }
  if (k == 0)
    return KILN_OK;
  /* src/ops/ has folded what batches it could into m (kiln_matmul_op). */
  const int64_t chunk = op->transpose_a ? m : INT_MAX;
  for (int64_t i = 0; i < op->batch; i++)
    for (int64_t r = 0; r < m; r += chunk) {
      const int64_t rows = m - r < chunk ? m - r : chunk;
      sgemm(op, rows, a + i * op->stride_a + r * k, b + i * op->stride_b, beta,
            out + i * op->stride_c + r * n);
    }
  return KILN_OK;
}

static kiln_status matmul(void *state, const kiln_matmul_op *op) {
  if (op->batch == 0 || op->m == 0 || op->n == 0)
    return KILN_OK;
  if (op->dtype == KILN_F32)
    return matmul_f32(op);
  return kiln_cpu_matmul_tiled(state, op);
}

KILN_CPU_OP(matmul, matmul, NULL);
