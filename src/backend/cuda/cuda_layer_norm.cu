/*
 * kiln_layer_norm on the GPU: out = (x - mean) / sqrt(var + eps) * weight
 * + bias over the last axis, f32 math, one rounding. Rows that fit are
 * held in registers (the table of cuda_rows.cuh, as rms_norm), so the
 * two-pass variance (mean first, then squared deviations from it, immune
 * to the cancellation of E[x^2] - mean^2) costs no second read. Longer
 * rows stream through one block in three passes. weight or bias NULL
 * means 1 or 0. A row whose squared deviations overflow f32 ([1e20,
 * -1e20, ...]) sums them again, scaled (rescaled_inv_rms, cuda_rows.cuh).
 */
#include "cuda_backend.h"
#include "cuda_rows.cuh"

using namespace kiln_dev;

namespace {

struct layer_norm_args {
  const void *x, *weight, *bias; /* weight, bias may be NULL */
  void *out;                     /* may be x */
  int64_t rows, cols;
  float eps;
  bool vec; /* rows, weight and bias start 16-byte aligned: vector loads */
};

/* V parameters at column c (V = 1: scalar), or fill where p is NULL. */
template <class T, int V>
__device__ __forceinline__ void load_param(const T *p, int64_t c, float fill, float (&out)[VW<T>]) {
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

/* row[col] = (v - mean) * inv * weight[col] + bias[col], rounded once; the
 * slot layout of row_regs. Slots past the row's end read column 0 of the
 * parameters, so their loads carry no branch. */
template <class T, int THREADS, int PT, class R>
__device__ __forceinline__ void store_affine(const R &x, T *row, const layer_norm_args &a, int r,
                                             float mean, float inv) {
  const T *w = (const T *)a.weight, *b = (const T *)a.bias;
  const int cols = (int)a.cols;
  constexpr int V = VW<T>;
  if (a.vec) {
#pragma unroll
    for (int j = 0; j < PT / V; j++) {
      const int c = (j * THREADS + r) * V, cp = c < cols ? c : 0;
      float wv[V], bv[V], out[V];
      load_param<T, V>(w, cp, 1.0f, wv);
      load_param<T, V>(b, cp, 0.0f, bv);
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
      load_param<T, 1>(w, cp, 1.0f, wv);
      load_param<T, 1>(b, cp, 0.0f, bv);
      if (c < cols)
        row[c] = from_f32<T>(fmaf((x.at(s) - mean) * inv, wv[0], bv[0]));
    }
  }
}

/* At least 1536 threads per SM, which caps a thread at 40 registers. Left
 * free, ptxas hoisted the weight and bias loads of store_affine ahead of
 * the reductions into 80-94 registers, a quarter of the SM's threads, and
 * the kernel ran at 1.9 TB/s at 16384 x 4096 f32 against 2.73 capped
 * (2.24 and 2.64 for bf16; H100, 2026-11-25). */
template <class T, int THREADS, int PT>
__global__ void KILN_ROW_BOUNDS_MIN(THREADS, 1536) layer_norm_rows_kernel(layer_norm_args a) {
  KILN_KERNEL_BEGIN();
  __shared__ float scratch[4][32];
  int64_t row;
  int r;
  if (!row_of<THREADS>(a.rows, row, r))
    return;
  const int cols = (int)a.cols;
  row_regs<T, THREADS, PT, T> x; /* only read back: kept as T */
  x.load((const T *)a.x + row * a.cols, cols, a.vec, r, 0.0f);
  float sum = 0.0f;
#pragma unroll
  for (int s = 0; s < PT; s++)
    sum += x.at(s); /* slots past the end hold 0 */
  const float mean = row_reduce<THREADS>(sum, op_sum{}, scratch[0]) / (float)a.cols;
  float dev = 0.0f;
#pragma unroll
  for (int s = 0; s < PT; s++) {
    const float t = x.col(a.vec, r, s) < cols ? x.at(s) - mean : 0.0f;
    dev = fmaf(t, t, dev);
  }
  dev = row_reduce<THREADS>(dev, op_sum{}, scratch[1]);
  float inv = rsqrtf(dev / (float)a.cols + a.eps);
  if (dev == INFINITY) /* rare: deviations above 1.8e19 (cuda_rows.cuh) */
    inv = rescaled_inv_rms<THREADS, PT>(
        [&](int s) { return x.col(a.vec, r, s) < cols ? x.at(s) - mean : 0.0f; }, (float)a.cols,
        a.eps, scratch[2], scratch[3]);
  store_affine<T, THREADS, PT>(x, (T *)a.out + row * a.cols, a, r, mean, inv);
}

/* A row too long for registers: the sum, the squared deviations, then the
 * write, each a pass over the row (from L2 after the first). */
template <class T>
__global__ void __launch_bounds__(STREAM_THREADS) layer_norm_stream_kernel(layer_norm_args a) {
  KILN_KERNEL_BEGIN();
  constexpr int V = VW<T>;
  __shared__ float scratch[4][32];
  const stream_row<T> s(a.vec);
  const T *x = (const T *)a.x + (int64_t)blockIdx.x * a.cols;
  T *out = (T *)a.out + (int64_t)blockIdx.x * a.cols;

  float sum = 0.0f;
  s.each_value(x, a.cols, [&](float v) { sum += v; });
  const float mean = block_reduce<STREAM_THREADS>(sum, op_sum{}, scratch[0]) / (float)a.cols;
  float dev = 0.0f;
  s.each_value(x, a.cols, [&](float v) { dev = fmaf(v - mean, v - mean, dev); });
  dev = block_reduce<STREAM_THREADS>(dev, op_sum{}, scratch[1]);
  float inv = rsqrtf(dev / (float)a.cols + a.eps);
  if (dev == INFINITY) /* rare: deviations above 1.8e19 (cuda_rows.cuh) */
    inv = rescaled_inv_rms_stream(
        [&](auto f) { s.each_value(x, a.cols, [&](float v) { f(v - mean); }); }, (float)a.cols,
        a.eps, scratch[2], scratch[3]);
  const T *w = (const T *)a.weight, *b = (const T *)a.bias;
  s.each(a.cols, [&](int64_t c) {
    float y[V], wv[V], bv[V];
    s.load(x, c, y);
    if (s.vec) {
      load_param<T, V>(w, c, 1.0f, wv);
      load_param<T, V>(b, c, 0.0f, bv);
    } else {
      load_param<T, 1>(w, c, 1.0f, wv);
      load_param<T, 1>(b, c, 0.0f, bv);
    }
    for (int u = 0; u < s.width; u++)
      y[u] = fmaf((y[u] - mean) * inv, wv[u], bv[u]);
    s.store(out, c, y);
  });
}

/* The kernels launch_rows (cuda_rows.cuh) picks from. */
struct layer_norm_kernels : row_kernels {
  /* Rows longer than this stream: the 1024 x 32 config spills once the
   * weight and bias loads sit beside the row. */
  static constexpr int64_t REG_COLS = 16384;
  template <class T, int THREADS, int PT> static auto rows_kernel() {
    return layer_norm_rows_kernel<T, THREADS, PT>;
  }
  template <class T> static auto stream_kernel() { return layer_norm_stream_kernel<T>; }
};

} // namespace

static kiln_status kiln_cuda_layer_norm(void *state, const kiln_layer_norm_op *op) {
  layer_norm_args a;
  a.x = op->x->data;
  a.weight = op->weight ? op->weight->data : NULL;
  a.bias = op->bias ? op->bias->data : NULL;
  a.out = op->out->data;
  a.rows = op->rows;
  a.cols = op->cols;
  a.eps = op->eps;
  a.vec = rows_vectorized(op->dtype, op->cols, a.x, a.weight, a.bias, a.out);
  return run_rows<layer_norm_kernels>((kiln_cuda *)state, "kiln_layer_norm",
                                      "launching the layer_norm kernel", op->dtype, a);
}

KILN_CUDA_OP(layer_norm, kiln_cuda_layer_norm, NULL);
