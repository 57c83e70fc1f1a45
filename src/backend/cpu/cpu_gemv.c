/*
 * Products with a few rows of x against a weight stored [n, k] (x w^T), as
 * one dot product per output: for decode-sized calls a GEMM kernel spends
 * its time packing, and 16-bit weights would first be widened through
 * memory. Here each weight row is read once (the per-row kernel is in
 * cpu_rows.h, built per instruction set) and the rows are spread over the
 * OpenMP threads.
 */
#include "cpu.h"

#include <cblas.h>

void kiln_cpu_gemv_nt(const cpu_state *s, kiln_dtype dtype, int64_t rows, int64_t n, int64_t k,
                 float alpha, const float *x, int64_t ldx, const void *w, int64_t ldw, float *y,
                 int64_t ldy) {
  if (k == 0)
    return;
  /* One f32 row is exactly BLAS's GEMV, which OpenBLAS tunes per CPU. */
  if (dtype == KILN_F32 && rows == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)k, alpha, w, (int)ldw, x, 1, 1.0f, y,
                1);
    return;
  }
  const size_t wsize = kiln_dtype_size(dtype);
#pragma omp parallel for schedule(static) if (n * k > CPU_PARALLEL_MIN)
  for (int64_t j = 0; j < n; j++)
    s->rows->gemv_row(dtype, rows, k, alpha, x, ldx,
                      (const char *)w + (size_t)(j * ldw) * wsize, y + j, ldy);
}
