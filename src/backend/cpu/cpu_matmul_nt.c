/*
 * f32 out += alpha * x w^T with w stored [n, k] (a Linear layer's weight,
 * PyTorch's layout), for the few-row products a BLAS spends its time on
 * packing: a GEMM kernel copies all of w into its own panel layout on every
 * call, a full extra pass over the weights, which for a 13-token text is
 * most of the work (63% of one thread's time, measured). Here w is read
 * where it lies, once per 32 rows of x.
 *
 * x is first copied transposed and scaled by alpha into xt [k][32] per 32
 * rows (zero-padded; small, and reused by every weight row). The kernel then
 * takes 8 weight rows at a time: for each p < k it broadcasts w[j + r, p]
 * and multiplies it into xt[p] (32 rows of x, two 16-float vectors), so
 * 16 accumulators hold an [8 x 32] tile of out^T, which is added into out
 * at the end. Weight rows are spread over the OpenMP threads.
 *
 * AVX-512 only (the target attribute below; kiln_cpu_matmul_nt_available
 * says whether this CPU has it); elsewhere cpu_matmul.c keeps the BLAS.
 */
#include "cpu.h"

#include <stdint.h>
#include <stdlib.h>

#if CPU_HAVE_AVX2_VARIANT
#include <immintrin.h>

enum { XT_ROWS = 32, W_ROWS = 8 };

bool kiln_cpu_matmul_nt_available(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

/* xt[p * 32 + i] = alpha * x[i, p] for i < rows <= 32, 0 for the rest. */
static void pack_x(const float *x, int64_t ldx, int64_t rows, int64_t k, float alpha,
                   float *xt) {
  for (int64_t p = 0; p < k; p++) {
    float *dst = xt + p * XT_ROWS;
    int64_t i = 0;
    for (; i < rows; i++)
      dst[i] = alpha * x[i * ldx + p];
    for (; i < XT_ROWS; i++)
      dst[i] = 0.0f;
  }
}

/* out[i, j0 + r] += sum_p xt[p, i] w[j0 + r, p] for i < rows, r < nr <= 8.
 * Rows past nr read the last real weight row again (no branch in the loop)
 * and are dropped. VECS (1 or 2) 16-float vectors of xt are live: one when
 * rows <= 16. */
__attribute__((target("avx512f"), always_inline)) static inline void
tile(const float *xt, const float *w, int64_t ldw, int64_t k, int64_t nr, float *out,
     int64_t ldo, int64_t rows, int vecs) {
  const float *wr[W_ROWS];
  for (int r = 0; r < W_ROWS; r++)
    wr[r] = w + (r < nr ? r : nr - 1) * ldw;
  const uintptr_t ahead = (uintptr_t)(W_ROWS * ldw) * sizeof(float);
  __m512 acc[W_ROWS][2];
  for (int r = 0; r < W_ROWS; r++)
    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; p++) {
    /* The next block's weights, a cache line of each row per 16 steps:
     * the weights stream from memory (the whole model's for a short
     * text), and asking a block ahead took 20% off (one thread, 13 rows).
     * Past the last row it asks for lines it never reads: a prefetch does
     * not fault, and the address is formed as an integer, not a pointer
     * past the array. */
    if (p % 16 == 0)
      for (int r = 0; r < W_ROWS; r++)
        _mm_prefetch((const char *)((uintptr_t)(wr[r] + p) + ahead), _MM_HINT_T0);
    const __m512 x0 = _mm512_load_ps(xt + p * XT_ROWS);
    const __m512 x1 = vecs > 1 ? _mm512_load_ps(xt + p * XT_ROWS + 16) : x0;
    for (int r = 0; r < W_ROWS; r++) {
      const __m512 b = _mm512_set1_ps(wr[r][p]);
      acc[r][0] = _mm512_fmadd_ps(b, x0, acc[r][0]);
      if (vecs > 1)
        acc[r][1] = _mm512_fmadd_ps(b, x1, acc[r][1]);
    }
  }
  float t[W_ROWS][XT_ROWS];
  for (int r = 0; r < W_ROWS; r++) {
    _mm512_storeu_ps(t[r], acc[r][0]);
    _mm512_storeu_ps(t[r] + 16, acc[r][1]);
  }
  for (int64_t i = 0; i < rows; i++)
    for (int64_t r = 0; r < nr; r++)
      out[i * ldo + r] += t[r][i];
}

__attribute__((target("avx512f"))) static void tile_16(const float *xt, const float *w,
                                                      int64_t ldw, int64_t k, int64_t nr,
                                                      float *out, int64_t ldo, int64_t rows) {
  tile(xt, w, ldw, k, nr, out, ldo, rows, 1);
}

__attribute__((target("avx512f"))) static void tile_32(const float *xt, const float *w,
                                                      int64_t ldw, int64_t k, int64_t nr,
                                                      float *out, int64_t ldo, int64_t rows) {
  tile(xt, w, ldw, k, nr, out, ldo, rows, 2);
}

int64_t kiln_cpu_matmul_nt_scratch(int64_t rows, int64_t k) {
  return (rows + XT_ROWS - 1) / XT_ROWS * XT_ROWS * k;
}

void kiln_cpu_matmul_nt(int64_t rows, int64_t n, int64_t k, float alpha, const float *x,
                        int64_t ldx, const float *w, int64_t ldw, float *out, int64_t ldo,
                        float *xt) {
  const int64_t chunks = (rows + XT_ROWS - 1) / XT_ROWS;
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t i0 = c * XT_ROWS;
    pack_x(x + i0 * ldx, ldx, rows - i0 < XT_ROWS ? rows - i0 : XT_ROWS, k, alpha,
           xt + c * XT_ROWS * k);
  }
  const int64_t blocks = (n + W_ROWS - 1) / W_ROWS;
  /* One block's weights (8 rows of k) stay in L1/L2 while every chunk of
   * x passes over them. */
#pragma omp parallel for schedule(static) if (rows * n * k > 4 * CPU_PARALLEL_MIN)
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t j0 = b * W_ROWS, nr = n - j0 < W_ROWS ? n - j0 : W_ROWS;
    for (int64_t c = 0; c < chunks; c++) {
      const int64_t i0 = c * XT_ROWS, mr = rows - i0 < XT_ROWS ? rows - i0 : XT_ROWS;
      float *o = out + i0 * ldo + j0;
      if (mr <= 16)
        tile_16(xt + c * XT_ROWS * k, w + j0 * ldw, ldw, k, nr, o, ldo, mr);
      else
        tile_32(xt + c * XT_ROWS * k, w + j0 * ldw, ldw, k, nr, o, ldo, mr);
    }
  }
}

#else
bool kiln_cpu_matmul_nt_available(void) { return false; }
int64_t kiln_cpu_matmul_nt_scratch(int64_t rows, int64_t k) {
  (void)rows, (void)k;
  return 0;
}
void kiln_cpu_matmul_nt(int64_t rows, int64_t n, int64_t k, float alpha, const float *x,
                        int64_t ldx, const float *w, int64_t ldw, float *out, int64_t ldo,
                        float *xt) {
  (void)rows, (void)n, (void)k, (void)alpha, (void)x, (void)ldx, (void)w, (void)ldw, (void)out,
      (void)ldo, (void)xt;
}
#endif
