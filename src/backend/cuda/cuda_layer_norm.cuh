/*
 * LayerNorm's row arithmetic on the GPU, shared by kiln_layer_norm and
 * kiln_add_layer_norm so that the fused op normalizes h exactly as the
 * composite's layer_norm does (same slots, same reductions, same
 * roundings): the two-pass statistics (mean first, then squared
 * deviations from it, immune to the cancellation of E[x^2] - mean^2) and
 * the affine store, for a row in registers (row_regs) and for a streamed
 * row (stream_row). weight or bias NULL means 1 or 0. A row whose squared
 * deviations overflow f32 ([1e20, -1e20, ...]) sums them again, scaled
 * (rescaled_inv_rms, cuda_rows.cuh).
 */
#ifndef KILN_CUDA_LAYER_NORM_CUH
#define KILN_CUDA_LAYER_NORM_CUH

#include "cuda_rows.cuh"

namespace kiln_dev {

/* V parameters at column c (V = 1: scalar), or fill where p is NULL. */
template <class T, int V>
__device__ __forceinline__ void ln_load_param(const T *p, int64_t c, float fill,
                                              float (&out)[VW<T>]) {
  if (!p) {
#pragma unroll
    for (int u = 0; u < V; u++)
      out[u] = fill;
  } else if constexpr (V > 1) {
    load16_ro(p + c, out);
  } else {
    out[0] = to_f32(__ldg(p + c));
  }
}

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
  float dev = 0.0f;
#pragma unroll
  for (int s = 0; s < PT; s++) {
    const float t = x.col(vec, r, s) < cols ? x.at(s) - m : 0.0f;
    dev = fmaf(t, t, dev);
  }
  dev = row_reduce<THREADS>(dev, op_sum{}, scratch[1]);
  inv = rsqrtf(dev / (float)cols + eps);
  if (dev == INFINITY) /* rare: deviations above 1.8e19 (cuda_rows.cuh) */
    inv = rescaled_inv_rms<THREADS, PT>(
        [&](int s) { return x.col(vec, r, s) < cols ? x.at(s) - m : 0.0f; }, (float)cols, eps,
        scratch[2], scratch[3]);
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

/* A streamed row's statistics, given sum, this thread's partial sum of the
 * row x (its own chunks, in each_value's order): the deviations are a
 * second pass over x. */
template <class T>
__device__ __forceinline__ void ln_stream_stats(const stream_row<T> &s, const T *x, int64_t cols,
                                                float sum, float eps, float (&scratch)[4][32],
                                                float &mean, float &inv) {
  mean = block_reduce<STREAM_THREADS>(sum, op_sum{}, scratch[0]) / (float)cols;
  const float m = mean;
  float dev = 0.0f;
  s.each_value(x, cols, [&](float v) { dev = fmaf(v - m, v - m, dev); });
  dev = block_reduce<STREAM_THREADS>(dev, op_sum{}, scratch[1]);
  inv = rsqrtf(dev / (float)cols + eps);
  if (dev == INFINITY) /* rare: deviations above 1.8e19 (cuda_rows.cuh) */
    inv = rescaled_inv_rms_stream(
        [&](auto f) { s.each_value(x, cols, [&](float v) { f(v - m); }); }, (float)cols, eps,
        scratch[2], scratch[3]);
}

/* The write of a streamed row: out = (x - mean) * inv * w + b, x read again. */
template <class T>
__device__ __forceinline__ void ln_stream_store(const stream_row<T> &s, const T *x, const T *w,
                                                const T *b, T *out, int64_t cols, float mean,
                                                float inv) {
  constexpr int V = VW<T>;
  s.each(cols, [&](int64_t c) {
    float y[V], wv[V], bv[V];
    s.load(x, c, y);
    if (s.vec) {
      ln_load_param<T, V>(w, c, 1.0f, wv);
      ln_load_param<T, V>(b, c, 0.0f, bv);
    } else {
      ln_load_param<T, 1>(w, c, 1.0f, wv);
      ln_load_param<T, 1>(b, c, 0.0f, bv);
    }
    for (int u = 0; u < s.width; u++)
      y[u] = fmaf((y[u] - mean) * inv, wv[u], bv[u]);
    s.store(out, c, y);
  });
}

} // namespace kiln_dev

#endif /* KILN_CUDA_LAYER_NORM_CUH */
