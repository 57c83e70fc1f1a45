/*
 * kiln_rms_norm on the GPU: out = x / sqrt(mean(x^2) + eps) * weight over
 * the last axis, in f32 for every dtype. Rows that fit are held in
 * registers and read once (cuda_rows.cuh has the table of configs by
 * width); the weight is read as the row is written, from L2 where every
 * row finds it. Longer rows stream through one block in two passes.
 */
#include "cuda_backend.h"
#include "cuda_rows.cuh"

using namespace kiln_dev;

namespace {

struct rms_norm_args {
  const void *x, *weight;
  void *out; /* may be x */
  int64_t rows, cols;
  float eps;
  bool vec; /* rows and weight start 16-byte aligned: vector loads */
};

/* Whether a thread has the registers to hold its weights as well as its
 * share of x (both kept as T), with room to spare; then the weights load
 * together with x, and their latency hides behind it, instead of after the
 * reduction. */
template <class T, int THREADS, int PT>
constexpr bool WEIGHTS_AHEAD = 2 * PT * (int)sizeof(T) / 4 + 40 <= 65536 / ROW_BLOCK<THREADS>;

/* Each row group (a warp or a block) walks rows grid-stride, so a weight
 * held in registers is loaded once per group instead of once per row: at
 * 16384 x 4096 the per-row reloads doubled the traffic out of L2 and held
 * the kernel at 2.6 TB/s. */
template <class T, int THREADS, int PT>
__global__ void KILN_ROW_BOUNDS(THREADS) rms_norm_rows_kernel(rms_norm_args a) {
  KILN_KERNEL_BEGIN();
  __shared__ float scratch[32];
  int64_t row;
  int r;
  if (!row_of<THREADS>(a.rows, row, r))
    return;
  const int64_t row_step = THREADS == 32 ? (int64_t)gridDim.x * (blockDim.x / 32) : gridDim.x;
  const int cols = (int)a.cols;
  const T *weight = (const T *)a.weight;
  row_regs<T, THREADS, PT, T> x, w; /* only read back: kept as T */
  if constexpr (WEIGHTS_AHEAD<T, THREADS, PT>)
    w.template load<true>(weight, cols, a.vec, r, 0.0f);
  for (; row < a.rows; row += row_step) {
    x.load((const T *)a.x + row * a.cols, cols, a.vec, r, 0.0f);
    float squares = 0.0f;
#pragma unroll
    for (int s = 0; s < PT; s++)
      squares = fmaf(x.at(s), x.at(s), squares);
    squares = row_reduce<THREADS>(squares, op_sum{}, scratch);
    const float inv = rsqrtf(squares / (float)a.cols + a.eps);
    T *out = (T *)a.out + row * a.cols;
    if constexpr (WEIGHTS_AHEAD<T, THREADS, PT>)
      x.store_product(out, cols, a.vec, r, inv, w);
    else
      x.store_scaled(out, cols, a.vec, r, inv, weight);
    if (THREADS > 32)
      __syncthreads(); /* the next row's reduction reuses scratch */
  }
}

/* A row too long for registers: pass one sums the squares, pass two reads
 * the row again and writes. */
template <class T>
__global__ void __launch_bounds__(STREAM_THREADS) rms_norm_stream_kernel(rms_norm_args a) {
  KILN_KERNEL_BEGIN();
  constexpr int V = VW<T>;
  __shared__ float scratch[32];
  const T *x = (const T *)a.x + (int64_t)blockIdx.x * a.cols;
  const T *w = (const T *)a.weight;
  T *out = (T *)a.out + (int64_t)blockIdx.x * a.cols;
  const int64_t step = a.vec ? (int64_t)STREAM_THREADS * V : STREAM_THREADS;
  const int64_t first = a.vec ? (int64_t)threadIdx.x * V : threadIdx.x;
  const int width = a.vec ? V : 1;

  float squares = 0.0f;
  for (int64_t c = first; c < a.cols; c += step) {
    float y[V];
    if (a.vec)
      load16(x + c, y);
    else
      y[0] = to_f32(x[c]);
    for (int u = 0; u < width; u++)
      squares = fmaf(y[u], y[u], squares);
  }
  squares = block_reduce<STREAM_THREADS>(squares, op_sum{}, scratch);
  const float inv = rsqrtf(squares / (float)a.cols + a.eps);

  for (int64_t c = first; c < a.cols; c += step) {
    float y[V], wv[V];
    if (a.vec) {
      load16(x + c, y);
      load16(w + c, wv);
    } else {
      y[0] = to_f32(x[c]);
      wv[0] = to_f32(w[c]);
    }
    for (int u = 0; u < width; u++)
      y[u] = y[u] * inv * wv[u];
    if (a.vec)
      store16(out + c, y);
    else
      out[c] = from_f32<T>(y[0]);
  }
}

/* The kernels launch_rows (cuda_rows.cuh) picks from. */
struct rms_norm_kernels : row_kernels {
  static constexpr bool GRID_STRIDE = true; /* see rms_norm_rows_kernel */
  template <class T, int THREADS, int PT> static auto rows_kernel() {
    return rms_norm_rows_kernel<T, THREADS, PT>;
  }
  template <class T> static auto stream_kernel() { return rms_norm_stream_kernel<T>; }
};

} // namespace

kiln_status kiln_cuda_rms_norm(void *state, const kiln_rms_norm_op *op) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_rms_norm";
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  rms_norm_args a;
  a.x = op->x->data;
  a.weight = op->weight->data;
  a.out = op->out->data;
  a.rows = op->rows;
  a.cols = op->cols;
  a.eps = op->eps;
  a.vec = op->cols % (16 / (int64_t)kiln_dtype_size(op->dtype)) == 0 && aligned16(a.x) &&
          aligned16(a.weight) && aligned16(a.out);
  cudaError_t err = launch_rows<rms_norm_kernels>(op->dtype, a, st->sm_count, st->stream);
  return kiln_cuda_check(err, fn, "launching the rms_norm kernel");
}
