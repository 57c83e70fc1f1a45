/*
 * What the GPU's four norm ops share (rms_norm, add_rms_norm, layer_norm,
 * add_layer_norm): one argument struct, filled on the host by
 * norm_args_of; the fused ops' residual add, h = x + residual rounded to
 * the dtype and stored, for a row in registers (add_residual) and for a
 * streamed row (stream_norm_source); RMSNorm's end of a row in registers
 * (rms_norm_end); and the streamed rows of all four (norm_stream_kernel,
 * with LayerNorm's passes). A fused op normalizes h as stored with the
 * plain op's own row arithmetic (here, and cuda_layer_norm.cuh for
 * LayerNorm's rows in registers), so fused and composite (kiln_add, then
 * the norm) agree to the bit, same slots, same reductions, same roundings.
 * A row whose sum of squares (or squared deviations) overflows f32 is
 * summed again, scaled (rescaled_inv_rms, cuda_rows.cuh).
 */
#ifndef KILN_CUDA_NORM_CUH
#define KILN_CUDA_NORM_CUH

#include "cuda_rows.cuh"

namespace kiln_dev {

struct norm_args {
  const void *x;
  const void *residual;     /* the fused ops only */
  const void *weight;       /* layer_norm: may be NULL (1) */
  const void *bias;         /* layer_norm only, may be NULL (0) */
  void *h;                  /* the fused ops only; may be x or residual */
  void *out;                /* may be x (plain ops); overlaps nothing (fused) */
  int64_t rows, cols;
  float eps;
  bool vec;      /* every row and parameter starts 16-byte aligned: vector loads */
  bool cs;       /* streaming stores (row_plan; rms_norm) */
  uint32_t zero; /* 0, unknown to the compiler (row_words::touch) */
};

static inline const void *data_or_null(const kiln_tensor *t) { return t ? t->data : NULL; }

/* An op's norm_args; residual, bias and h NULL where the op has none. */
static inline norm_args norm_args_of(kiln_dtype dtype, const kiln_tensor *x,
                                     const kiln_tensor *residual, const kiln_tensor *weight,
                                     const kiln_tensor *bias, kiln_tensor *h, kiln_tensor *out,
                                     int64_t rows, int64_t cols, float eps) {
  norm_args a;
  a.x = x->data;
  a.residual = data_or_null(residual);
  a.weight = data_or_null(weight);
  a.bias = data_or_null(bias);
  a.h = h ? h->data : NULL;
  a.out = out->data;
  a.rows = rows;
  a.cols = cols;
  a.eps = eps;
  a.vec = rows_vectorized(dtype, cols, a.x, a.residual, a.weight, a.bias, a.h, a.out);
  a.cs = false;
  a.zero = 0;
  return a;
}

/* This thread's slots of h = x + residual for row `row`, rounded to T (the
 * rounding h is stored with), and stored to a.h; each(v) is called with
 * every slot's rounded value in slot order, as the sum is made. Slots past
 * the row's end hold 0 + 0. Kept as T: h is rounded to T anyway, and T
 * halves the registers. */
template <class T, int THREADS, int PT, class F>
__device__ __forceinline__ row_regs<T, THREADS, PT, T> add_residual(const norm_args &a,
                                                                   int64_t row, int r, F &&each) {
  const int cols = (int)a.cols;
  const int64_t offset = row * a.cols;
  row_regs<T, THREADS, PT, T> h, res;
  h.load((const T *)a.x + offset, cols, a.vec, r, 0.0f);
  res.load((const T *)a.residual + offset, cols, a.vec, r, 0.0f);
#pragma unroll
  for (int s = 0; s < PT; s++) {
    h.v[s] = from_f32<T>(h.at(s) + res.at(s));
    each(h.at(s));
  }
  h.store((T *)a.h + offset, cols, a.vec, r);
  return h;
}

/* The first pass over a streamed row (a block per row, this block's):
 * f(v) for every value of this thread's share of the row to normalize,
 * which is x, or with ADD h = x + residual, rounded and stored as it is
 * made. Returns that row for the later passes, which read back (with ADD)
 * this thread's own writes, so they need no barrier. (Folding the kernels'
 * first lines, the stream_row and the partial sum, in here too cost
 * LayerNorm's f32 stream kernel 10 registers and its 16-bit ones a 96-byte
 * local frame for the y arrays, nvcc 13.) */
template <class T, bool ADD, class F>
__device__ __forceinline__ const T *stream_norm_source(const stream_row<T> &s, const norm_args &a,
                                                       F &&f) {
  const int64_t offset = (int64_t)blockIdx.x * a.cols;
  const T *x = (const T *)a.x + offset;
  if constexpr (!ADD) {
    s.each_value(x, a.cols, f);
    return x;
  } else {
    constexpr int V = VW<T>;
    const T *res = (const T *)a.residual + offset;
    T *h = (T *)a.h + offset;
    s.each(a.cols, [&](int64_t c) {
      float y[V], z[V];
      s.load(x, c, y);
      s.load(res, c, z);
      for (int u = 0; u < s.width; u++) {
        y[u] = to_f32(from_f32<T>(y[u] + z[u])); /* the rounding h is stored with */
        f(y[u]);
      }
      s.store(h, c, y);
    });
    return h;
  }
}

/* out = x * inv_rms * weight for row `row` held in x (a row_regs or
 * row_words), given squares, this thread's part of the sum of its
 * squares. The weight is read from L2, where every row finds it, as the
 * row is written. cs: streaming stores. */
template <class T, int THREADS, int PT, class R>
__device__ __forceinline__ void rms_norm_end(const norm_args &a, int64_t row, int r, R x,
                                             float squares, bool cs, float (&scratch)[3][32]) {
  const float inv = row_inv_rms<THREADS, PT>(
      squares, [&](int s) { return x.at(s); }, (float)a.cols, a.eps, scratch);
  if constexpr (std::is_same<R, row_words<T, THREADS, PT>>::value)
    x.touch(a.zero); /* converted again at the store, not kept as floats */
  row_regs<T, THREADS, PT, T>::template store_with<true>(
      (T *)a.out + row * a.cols, (int)a.cols, a.vec, r, cs, [&](int s) { return x.at(s); }, inv,
      (const T *)a.weight);
}

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
  inv = stream_inv_rms(
      dev, [&](auto f) { s.each_value(x, cols, [&](float v) { f(v - m); }); }, (float)cols, eps,
      scratch + 1);
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

/* The end of RMSNorm on a streamed row, for rms_norm and add_rms_norm:
 * squares (this thread's partial sum of src's squares) reduced into the
 * inverse RMS, then out = src * inv_rms * w, src read again. WEIGHT_RO
 * reads w through the read-only cache. */
template <class T, bool WEIGHT_RO>
__device__ __forceinline__ void stream_rms_store(const stream_row<T> &s, float squares,
                                                 const T *src, const T *w, T *out, int64_t cols,
                                                 float eps, float (&scratch)[3][32]) {
  constexpr int V = VW<T>;
  const float inv = stream_inv_rms(
      squares, [&](auto f) { s.each_value(src, cols, f); }, (float)cols, eps, scratch);
  s.each(cols, [&](int64_t c) {
    float y[V], wv[V];
    s.load(src, c, y);
    if (WEIGHT_RO)
      s.load_ro(w, c, wv);
    else
      s.load(w, c, wv);
    for (int u = 0; u < s.width; u++)
      y[u] = y[u] * inv * wv[u];
    s.store(out, c, y);
  });
}

} // namespace kiln_dev

namespace {

using namespace kiln_dev;

/* A row too long for registers, in any of the four norm ops (LAYER:
 * LayerNorm, else RMSNorm; ADD: the fused op, its pass one making and
 * storing h on the way, stream_norm_source). RMSNorm: pass one sums the
 * squares, pass two reads the row again and writes (stream_rms_store; the
 * fused op reads the weight through the read-only cache). LayerNorm: the
 * sum, the squared deviations, then the write, each a pass over the row
 * (from L2 after the first). One kernel body with if constexpr: the same
 * code split at a function boundary (a stats-and-store function per norm)
 * cost LayerNorm's f32 kernel 10 registers and its 16-bit ones a 96-byte
 * local frame (nvcc 13). */
template <class T, bool ADD, bool LAYER>
__global__ void __launch_bounds__(STREAM_THREADS) norm_stream_kernel(norm_args a) {
  KILN_KERNEL_BEGIN();
  __shared__ float scratch[LAYER ? 4 : 3][32];
  const stream_row<T> s(a.vec);
  float acc = 0.0f; /* the sum (LAYER) or the sum of squares */
  const T *src = stream_norm_source<T, ADD>(s, a, [&](float v) {
    if constexpr (LAYER)
      acc += v;
    else
      acc = fmaf(v, v, acc);
  });
  T *out = (T *)a.out + (int64_t)blockIdx.x * a.cols;
  if constexpr (LAYER) {
    float mean, inv;
    ln_stream_stats(s, src, a.cols, acc, a.eps, scratch, mean, inv);
    ln_stream_store(s, src, (const T *)a.weight, (const T *)a.bias, out, a.cols, mean, inv);
  } else {
    stream_rms_store<T, ADD>(s, acc, src, (const T *)a.weight, out, a.cols, a.eps, scratch);
  }
}

} // namespace

#endif /* KILN_CUDA_NORM_CUH */
