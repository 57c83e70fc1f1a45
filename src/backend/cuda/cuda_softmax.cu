/*
 * kiln_softmax on the GPU: softmax over the last axis of scale * x, with
 * the causal mask fused in. Rows that fit are held in registers and read
 * once (cuda_rows.cuh has the table of configs by width); longer rows
 * stream through one block in two passes, an online max-and-sum, then the
 * write. Math in f32 for every dtype, in base 2: x is scaled by
 * scale * log2(e) on load, so each element costs one exp2f.
 *
 * Masked and -inf entries become 0; a row with nothing left (all masked or
 * all -inf) becomes all zeros rather than 0/0.
 */
#include "cuda_backend.h"
#include "cuda_rows.cuh"

using namespace kiln_dev;

namespace {

struct softmax_args {
  const void *x;
  void *out; /* may be x */
  int64_t rows, cols;
  int64_t sq; /* causal: rows per [Sq, Sk] matrix */
  bool causal;
  bool vec;          /* rows start 16-byte aligned: vector loads */
  float scale_log2e; /* scale * log2(e) */
};

/* The last unmasked column of row: i + (Sk - Sq) for row i of its matrix. */
__device__ __forceinline__ int64_t last_visible(const softmax_args &a, int64_t row) {
  return a.causal ? row % a.sq + (a.cols - a.sq) : a.cols;
}

__device__ __forceinline__ float scaled(const softmax_args &a, float x, int64_t col,
                                        int64_t last) {
  return col > last ? -INFINITY : x * a.scale_log2e;
}

/* The max to subtract: a row with nothing visible has max -inf, and
 * -inf - -inf would be NaN; subtracting 0 instead leaves exp2f(-inf) = 0
 * everywhere, a zero sum, and a row of zeros. */
__device__ __forceinline__ float visible_max(float mx) { return mx == -INFINITY ? 0.0f : mx; }

template <class T, int THREADS, int PT>
__global__ void KILN_ROW_BOUNDS(THREADS) softmax_rows_kernel(softmax_args a) {
  __shared__ float scratch[2][32];
  int64_t row;
  int r;
  if (!row_of<THREADS>(a.rows, row, r))
    return;
  const int cols = (int)a.cols;
  row_regs<T, THREADS, PT> x;
  x.load((const T *)a.x + row * a.cols, cols, a.vec, r, -INFINITY);
  const int64_t last = last_visible(a, row);
  float mx = -INFINITY;
#pragma unroll
  for (int s = 0; s < PT; s++) {
    x.v[s] = scaled(a, x.v[s], x.col(a.vec, r, s), last);
    mx = fmaxf(mx, x.v[s]);
  }
  const float base = visible_max(row_reduce<THREADS>(mx, op_max{}, scratch[0]));
  float sum = 0.0f;
#pragma unroll
  for (int s = 0; s < PT; s++) {
    x.v[s] = exp2f(x.v[s] - base);
    sum += x.v[s];
  }
  sum = row_reduce<THREADS>(sum, op_sum{}, scratch[1]);
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
#pragma unroll
  for (int s = 0; s < PT; s++)
    x.v[s] *= inv;
  x.store((T *)a.out + row * a.cols, cols, a.vec, r);
}

/* Running (max, sum of exp2(y - max)) over the elements seen so far. */
struct online {
  float max = -INFINITY, sum = 0.0f;
  __device__ __forceinline__ void add(const float *y, int n) {
    float m = max;
    for (int u = 0; u < n; u++)
      m = fmaxf(m, y[u]);
    if (m == -INFINITY) /* nothing visible yet */
      return;
    sum *= exp2f(max - m); /* max == -inf: sum is 0 and stays 0 */
    max = m;
    for (int u = 0; u < n; u++)
      sum += exp2f(y[u] - m);
  }
};

/* A row too long for registers: pass one folds it into (max, sum), pass
 * two reads it again and writes. */
template <class T>
__global__ void __launch_bounds__(STREAM_THREADS) softmax_stream_kernel(softmax_args a) {
  constexpr int V = VW<T>;
  __shared__ float scratch[2][32];
  const int64_t row = blockIdx.x, last = last_visible(a, row);
  const T *x = (const T *)a.x + row * a.cols;
  T *out = (T *)a.out + row * a.cols;
  const int64_t step = a.vec ? (int64_t)STREAM_THREADS * V : STREAM_THREADS;
  const int64_t first = a.vec ? (int64_t)threadIdx.x * V : threadIdx.x;
  const int width = a.vec ? V : 1;

  online acc;
  for (int64_t c = first; c < a.cols; c += step) {
    float y[V];
    if (a.vec)
      load16(x + c, y);
    else
      y[0] = to_f32(x[c]);
    for (int u = 0; u < width; u++)
      y[u] = scaled(a, y[u], c + u, last);
    acc.add(y, width);
  }
  const float mx = visible_max(block_reduce<STREAM_THREADS>(acc.max, op_max{}, scratch[0]));
  const float mine = acc.max == -INFINITY ? 0.0f : acc.sum * exp2f(acc.max - mx);
  const float sum = block_reduce<STREAM_THREADS>(mine, op_sum{}, scratch[1]);
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;

  for (int64_t c = first; c < a.cols; c += step) {
    float y[V];
    if (a.vec)
      load16(x + c, y);
    else
      y[0] = to_f32(x[c]);
    for (int u = 0; u < width; u++)
      y[u] = exp2f(scaled(a, y[u], c + u, last) - mx) * inv;
    if (a.vec)
      store16(out + c, y);
    else
      out[c] = from_f32<T>(y[0]);
  }
}

template <class T> cudaError_t launch_softmax(const softmax_args &a, int sm_count,
                                              cudaStream_t stream) {
  const int config = row_config_index(a.cols, sizeof(T));
  if (config < 0) {
    if (a.rows > INT32_MAX)
      return cudaErrorInvalidConfiguration;
    return launch(softmax_stream_kernel<T>, dim3((unsigned)a.rows), dim3(STREAM_THREADS), 0,
                  stream, a);
  }
  return with_row_config<T>(config, [&](auto threads, auto per_thread) {
    dim3 grid, block;
    if (!row_geometry(a.rows, threads, sm_count, grid, block))
      return cudaErrorInvalidConfiguration;
    return launch(softmax_rows_kernel<T, decltype(threads)::value, decltype(per_thread)::value>,
                  grid, block, 0, stream, a);
  });
}

} // namespace

kiln_status kiln_cuda_softmax(void *state, const kiln_softmax_op *op) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_softmax";
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  softmax_args a;
  a.x = op->x->data;
  a.out = op->out->data;
  a.rows = op->rows;
  a.cols = op->cols;
  a.sq = op->sq;
  a.causal = op->causal;
  a.scale_log2e = op->scale * 1.4426950408889634f;
  a.vec = op->cols % (16 / (int64_t)kiln_dtype_size(op->dtype)) == 0 && aligned16(a.x) &&
          aligned16(a.out);
  cudaError_t err = with_dtype(op->dtype, [&](auto zero) {
    return launch_softmax<decltype(zero)>(a, st->sm_count, st->stream);
  });
  return kiln_cuda_check(err, fn, "launching the softmax kernel");
}
