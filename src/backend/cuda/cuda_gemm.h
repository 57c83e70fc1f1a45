/*
 * One matmul as kiln's own GEMM kernels and the cuBLASLt path both see it:
 * kiln_matmul_op's fields as raw pointers (the batch already folded into m
 * by src/ops/ where that is possible):
 *
 *   c[i] = alpha * op(a[i]) @ op(b[i]) + beta * c[i] + bias,  i < batch
 *
 * row-major; a[i] at a + i * stride_a, and so on (stride_b is 0 when one b
 * serves every batch). With beta == 0, c is never read.
 */
#ifndef KILN_CUDA_GEMM_H
#define KILN_CUDA_GEMM_H

#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "internal.h"
}

typedef struct kiln_cuda_gemm {
  kiln_dtype dtype;
  int64_t m, n, k, batch;
  bool transpose_a, transpose_b;
  const void *a, *b, *bias; /* bias: [n] or NULL */
  void *c;
  int64_t stride_a, stride_b, stride_c; /* elements */
  float alpha, beta;
} kiln_cuda_gemm;

/* k == 0: c = beta * c + bias, elementwise (cuda_gemm_small.cu). */
cudaError_t kiln_cuda_gemm_fill(const kiln_cuda_gemm *g, int sm_count, cudaStream_t stream);

/* The latency-bound tile kernel: any shape, layout and alignment; fast when
 * the whole product is small and k is short (cuda_gemm_small.cu). */
bool kiln_cuda_gemm_small_fits(const kiln_cuda_gemm *g); /* grid within limits */
cudaError_t kiln_cuda_gemm_small(const kiln_cuda_gemm *g, cudaStream_t stream);

/* The thin kernels: min(m, n) <= KILN_CUDA_THIN_LIMIT rows on one side, a
 * memory-bound GEMV-like product (decode, LoRA ranks) (cuda_gemm_thin.cu).
 * kiln_cuda_gemm_thin_fits says whether one of them takes this layout and
 * alignment (16-byte loads of the long operand need aligned rows). */
#define KILN_CUDA_THIN_LIMIT 16
bool kiln_cuda_gemm_thin_fits(const kiln_cuda_gemm *g);
/* Whether a thin kernel beats cuBLASLt for a product with `rows` rows on
 * its thin side and a long operand of long_elems elements, where cuBLASLt
 * would (tensor_cores) or would not use tensor cores: the measured
 * crossover, kept with the other routing limits in cuda_matmul.cu. */
bool kiln_cuda_thin_wins(bool tensor_cores, int64_t rows, int64_t long_elems);
cudaError_t kiln_cuda_gemm_thin(const kiln_cuda_gemm *g, cudaStream_t stream);

/* The n-major GEMV (cuda_gemv.cu): a with 1 <= m <= KILN_CUDA_GEMV_MAX_ROWS
 * rows (m <= n) and b stored [k, n] (no transpose_b), any alignment, any
 * batch; alpha, beta and bias as above. k is split across blocks when n
 * alone cannot fill the GPU; the slabs' partial sums meet in `workspace`,
 * the context's KILN_CUDA_GEMV_WORKSPACE_BYTES (kiln_cuda_gemv_init zeroes
 * its counters once; each launch leaves them zero). Launches on stream in
 * order only: two launches sharing a workspace must not overlap.
 * KILN_CUDA_GEMV=0 in the environment turns it off (fits says no), for
 * timing it against the thin kernels. */
#define KILN_CUDA_GEMV_MAX_ROWS 16
#define KILN_CUDA_GEMV_WORKSPACE_BYTES (((int64_t)4 << 20) + ((int64_t)64 << 10)) /* partials + counters */
bool kiln_cuda_gemv_fits(const kiln_cuda_gemm *g);
cudaError_t kiln_cuda_gemv(const kiln_cuda_gemm *g, int sm_count, void *workspace,
                           cudaStream_t stream);

/* A whole LoRA linear in one launch of the thin k-major kernel:
 *   out [rows, n] = x [rows, in] w^T (+ bias) + scale (x a^T) b^T,
 * w [n, in], a [rank, in], b [n, rank], all row-major and contiguous;
 * x a^T stays in f32, so out is rounded once. _fits says whether the
 * kernel can take it: at most KILN_CUDA_THIN_LIMIT rows, a small rank, and
 * 16-byte vectors along in for x, w and a (cuda_gemm_thin.cu); whether it
 * should is kiln_cuda_thin_wins for the base product. */
typedef struct kiln_cuda_lora_gemm {
  kiln_dtype dtype;
  int64_t rows, in, n, rank;
  const void *x, *w, *bias, *a, *b; /* bias: [n] or NULL */
  void *out;
  float scale;
} kiln_cuda_lora_gemm;

bool kiln_cuda_lora_thin_fits(const kiln_cuda_lora_gemm *l);
cudaError_t kiln_cuda_lora_thin(const kiln_cuda_lora_gemm *l, cudaStream_t stream);

#endif /* KILN_CUDA_GEMM_H */
