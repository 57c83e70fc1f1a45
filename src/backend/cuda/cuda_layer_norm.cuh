/*
 * LayerNorm's row arithmetic and kernels on the GPU, shared by
 * kiln_layer_norm and kiln_add_layer_norm (ADD) so that the fused op
 * normalizes h exactly as the composite's layer_norm does (same slots,
 * same reductions, same roundings), for a row in registers (row_regs):
 * the two-pass statistics (mean first, then squared deviations from it,
 * immune to the cancellation of E[x^2] - mean^2) and the affine store.
 * weight or bias NULL means 1 or 0. A row whose squared deviations
 * overflow f32 ([1e20, -1e20, ...]) sums them again, scaled
 * (rescaled_inv_rms, cuda_rows.cuh). Streamed rows: cuda_norm.cuh.
 */
#ifndef KILN_CUDA_LAYER_NORM_CUH
#define KILN_CUDA_LAYER_NORM_CUH

#include "cuda_norm.cuh"

namespace kiln_dev {

/* The mean and 1 / sqrt(var + eps) of a row held in registers; slots past
 * the row's end must hold 0. Every thread of the row calls it. */
template <int THREADS, int PT, class R>
__device__ __forceinline__ void ln_row_stats(const R &x, int cols, bool vec, int r, float eps,
                                             float (&scratch)[4][32], float &mean, float &inv) {
  float sum = 0.0f;
#pragma unroll
  for (int s = 0; s < PT; s++)
    sum += x.at(s);
  mean = row_reduce<THREADS>(sum, op_sum{}, scratch[0]) / (float)cols;
  const float m = mean;
  auto deviation = [&](int s) { return x.col(vec, r, s) < cols ? x.at(s) - m : 0.0f; };
  float dev = 0.0f;
#pragma unroll
  for (int s = 0; s < PT; s++) {
    const float t = deviation(s);
    dev = fmaf(t, t, dev);
  }
  inv = row_inv_rms<THREADS, PT>(dev, deviation, (float)cols, eps, scratch + 1);
}

/* row[col] = (v - mean) * inv * weight[col] + bias[col], rounded once; the
 * slot layout of row_regs. Slots past the row's end read column 0 of the
 * parameters, so their loads carry no branch. */
template <class T, int THREADS, int PT, class R>
__device__ __forceinline__ void ln_store_affine(const R &x, T *row, const T *w, const T *b,
                                                int cols, bool vec, int r, float mean,
                                                float inv) {
  constexpr int V = VW<T>;
  if (vec) {
#pragma unroll
    for (int j = 0; j < PT / V; j++) {
      const int c = (j * THREADS + r) * V, cp = c < cols ? c : 0;
      float wv[V], bv[V], out[V];
      ln_load_param<T, V>(w, cp, 1.0f, wv);
      ln_load_param<T, V>(b, cp, 0.0f, bv);
#pragma unroll
      for (int u = 0; u < V; u++)
        out[u] = fmaf((x.at(j * V + u) - mean) * inv, wv[u], bv[u]);
      if (c < cols)
        store16(row + c, out);
    }
  } else {
#pragma unroll
    for (int s = 0; s < PT; s++) {
      const int c = s * THREADS + r, cp = c < cols ? c : 0;
      float wv[V], bv[V];
      ln_load_param<T, 1>(w, cp, 1.0f, wv);
      ln_load_param<T, 1>(b, cp, 0.0f, bv);
      if (c < cols)
        row[c] = from_f32<T>(fmaf((x.at(s) - mean) * inv, wv[0], bv[0]));
    }
  }
}

/* The normalized row `row`, held in x (slots past the row's end 0), into
 * a.out. */
template <class T, int THREADS, int PT, class R>
__device__ __forceinline__ void ln_row(const norm_args &a, int64_t row, int r, const R &x,
                                       float (&scratch)[4][32]) {
  const int cols = (int)a.cols;
  float mean, inv;
  ln_row_stats<THREADS, PT>(x, cols, a.vec, r, a.eps, scratch, mean, inv);
  ln_store_affine<T, THREADS, PT>(x, (T *)a.out + row * a.cols, (const T *)a.weight,
                                  (const T *)a.bias, cols, a.vec, r, mean, inv);
}

} // namespace kiln_dev

namespace {

using namespace kiln_dev;

/* Rows in registers (the table of cuda_rows.cuh, as rms_norm), so the
 * two-pass variance costs no second read; with ADD, h = x + residual made
 * and stored first (add_residual). A register cap: at least 1536 threads
 * per SM (40 registers). Left free, ptxas hoisted the weight and bias
 * loads of the affine store ahead of the reductions into 80-94 registers,
 * a quarter of the SM's threads, and the kernel ran at 1.9 TB/s at 16384 x
 * 4096 f32 against 2.73 capped (2.24 and 2.64 for bf16; H100, 2026-11-25).
 * With ADD, 1024 threads (64 registers): with the residual's slots beside
 * h, ptxas spilled 136-176 bytes per thread of the f32 PT = 16 configs
 * (BERT's 384-wide f32 rows among them) under 40, and 4-16 bytes under 64
 * (nvcc 13, sm_90). Not yet timed on a GPU. */
template <class T, int THREADS, int PT, bool ADD>
__global__ void KILN_ROW_BOUNDS_MIN(THREADS, (ADD ? 1024 : 1536))
    layer_norm_rows_kernel(norm_args a) {
  KILN_KERNEL_BEGIN();
  __shared__ float scratch[1][4][32];
  if constexpr (!ADD) {
    rows_in_regs<T, THREADS, PT, row_regs<T, THREADS, PT, T>, false>(
        a, 0.0f, scratch, [&](int64_t row, int r, const auto &x, auto &set) {
          ln_row<T, THREADS, PT>(a, row, r, x, set);
        });
  } else {
    on_own_row<THREADS>(a.rows, [&](int64_t row, int r) {
      ln_row<T, THREADS, PT>(a, row, r, add_residual<T, THREADS, PT>(a, row, r, [](float) {}),
                             scratch[0]);
    });
  }
}

/* The kernels launch_rows (cuda_rows.cuh) picks from, the same limit for
 * both ops, so both take the same config (and the same bits) for a row. */
template <bool ADD> struct layer_norm_kernels : row_kernels {
  /* Rows longer than this stream: the 1024 x 32 config spills once the
   * weight and bias loads sit beside the row. */
  static constexpr int64_t REG_COLS = 16384;
  template <class T, int THREADS, int PT> static auto rows_kernel() {
    return layer_norm_rows_kernel<T, THREADS, PT, ADD>;
  }
  template <class T> static auto stream_kernel() { return norm_stream_kernel<T, ADD, true>; }
};

} // namespace

#endif /* KILN_CUDA_LAYER_NORM_CUH */
