/*
 * kiln_layer_norm on the GPU: out = (x - mean) / sqrt(var + eps) * weight
 * + bias over the last axis, f32 math, one rounding. Rows that fit are
 * held in registers (the table of cuda_rows.cuh, as rms_norm), so the
 * two-pass variance costs no second read. Longer rows stream through one
 * block in three passes. The row arithmetic is cuda_layer_norm.cuh's,
 * shared with kiln_add_layer_norm.
 */
#include "cuda_backend.h"
#include "cuda_layer_norm.cuh"

using namespace kiln_dev;

namespace {

struct layer_norm_args {
  const void *x, *weight, *bias; /* weight, bias may be NULL */
  void *out;                     /* may be x */
  int64_t rows, cols;
  float eps;
  bool vec; /* rows, weight and bias start 16-byte aligned: vector loads */
};

/* At least 1536 threads per SM, which caps a thread at 40 registers. Left
 * free, ptxas hoisted the weight and bias loads of the affine store ahead
 * of the reductions into 80-94 registers, a quarter of the SM's threads,
 * and the kernel ran at 1.9 TB/s at 16384 x 4096 f32 against 2.73 capped
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
  float mean, inv;
  ln_row_stats<THREADS, PT>(x, cols, a.vec, r, a.eps, scratch, mean, inv);
  ln_store_affine<T, THREADS, PT>(x, (T *)a.out + row * a.cols, (const T *)a.weight,
                                  (const T *)a.bias, cols, a.vec, r, mean, inv);
}

/* A row too long for registers: the sum, the squared deviations, then the
 * write, each a pass over the row (from L2 after the first). */
template <class T>
__global__ void __launch_bounds__(STREAM_THREADS) layer_norm_stream_kernel(layer_norm_args a) {
  KILN_KERNEL_BEGIN();
  __shared__ float scratch[4][32];
  const stream_row<T> s(a.vec);
  const T *x = (const T *)a.x + (int64_t)blockIdx.x * a.cols;
  T *out = (T *)a.out + (int64_t)blockIdx.x * a.cols;
  float sum = 0.0f;
  s.each_value(x, a.cols, [&](float v) { sum += v; });
  float mean, inv;
  ln_stream_stats(s, x, a.cols, sum, a.eps, scratch, mean, inv);
  ln_stream_store(s, x, (const T *)a.weight, (const T *)a.bias, out, a.cols, mean, inv);
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
