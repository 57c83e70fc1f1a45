/*
 * What the GPU's four norm ops share (rms_norm, add_rms_norm, layer_norm,
 * add_layer_norm): one argument struct, filled on the host by
 * norm_args_of, and the fused ops' residual add, h = x + residual rounded
 * to the dtype and stored, for a row in registers (add_residual) and for a
 * streamed row (stream_norm_source). The fused op then normalizes h as
 * stored with the plain op's own row arithmetic (cuda_rms_norm.cuh,
 * cuda_layer_norm.cuh), so fused and composite (kiln_add, then the norm)
 * agree to the bit.
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

} // namespace kiln_dev

#endif /* KILN_CUDA_NORM_CUH */
