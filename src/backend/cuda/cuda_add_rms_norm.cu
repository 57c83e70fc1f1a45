/*
 * kiln_add_rms_norm on the GPU: h = x + residual, rounded to the dtype and
 * stored, then out = rms_norm(h as stored), so the fused op and the
 * composite (kiln_add, kiln_rms_norm) agree. One kernel reads x and
 * residual once and writes h and out: rows that fit stay in registers (the
 * table of cuda_rows.cuh, as rms_norm); longer rows stream through one
 * block, the second pass reading back h as this thread wrote it.
 */
#include "cuda_backend.h"
#include "cuda_rows.cuh"

using namespace kiln_dev;

namespace {

struct add_rms_norm_args {
  const void *x, *residual, *weight;
  void *h;   /* may be x or residual */
  void *out; /* overlaps nothing */
  int64_t rows, cols;
  float eps;
  bool vec; /* every row and the weight start 16-byte aligned */
};

template <class T, int THREADS, int PT>
__global__ void KILN_ROW_BOUNDS(THREADS) add_rms_norm_rows_kernel(add_rms_norm_args a) {
  KILN_KERNEL_BEGIN();
  __shared__ float scratch[3][32];
  int64_t row;
  int r;
  if (!row_of<THREADS>(a.rows, row, r))
    return;
  const int cols = (int)a.cols;
  const int64_t offset = row * a.cols;
  /* Kept as T: h is rounded to T anyway, and T halves the registers. */
  row_regs<T, THREADS, PT, T> h, res;
  h.load((const T *)a.x + offset, cols, a.vec, r, 0.0f);
  res.load((const T *)a.residual + offset, cols, a.vec, r, 0.0f);
  float squares = 0.0f;
#pragma unroll
  for (int s = 0; s < PT; s++) {
    h.v[s] = from_f32<T>(h.at(s) + res.at(s)); /* the rounding h is stored with */
    squares = fmaf(h.at(s), h.at(s), squares);
  }
  h.store((T *)a.h + offset, cols, a.vec, r);
  squares = row_reduce<THREADS>(squares, op_sum{}, scratch[0]);
  float inv = rsqrtf(squares / (float)a.cols + a.eps);
  if (squares == INFINITY) /* rare: entries above 1.8e19 (cuda_rows.cuh) */
    inv = rescaled_inv_rms<THREADS, PT>([&](int s) { return h.at(s); }, (float)a.cols, a.eps,
                                        scratch[1], scratch[2]);
  h.store_scaled((T *)a.out + offset, cols, a.vec, r, inv, (const T *)a.weight);
}

/* A row too long for registers: pass one adds, stores h and sums its
 * squares; pass two reads h back (the same thread's own writes, so no
 * barrier is needed for them) and writes out (stream_rms_store). */
template <class T>
__global__ void __launch_bounds__(STREAM_THREADS) add_rms_norm_stream_kernel(add_rms_norm_args a) {
  KILN_KERNEL_BEGIN();
  constexpr int V = VW<T>;
  __shared__ float scratch[3][32];
  const stream_row<T> s(a.vec);
  const int64_t offset = (int64_t)blockIdx.x * a.cols;
  const T *x = (const T *)a.x + offset, *res = (const T *)a.residual + offset;
  T *h = (T *)a.h + offset, *out = (T *)a.out + offset;
  float squares = 0.0f;
  s.each(a.cols, [&](int64_t c) {
    float y[V], z[V];
    s.load(x, c, y);
    s.load(res, c, z);
    for (int u = 0; u < s.width; u++) {
      y[u] = to_f32(from_f32<T>(y[u] + z[u])); /* the rounding h is stored with */
      squares = fmaf(y[u], y[u], squares);
    }
    s.store(h, c, y);
  });
  stream_rms_store<T, true>(s, squares, h, (const T *)a.weight, out, a.cols, a.eps, scratch);
}

/* The kernels launch_rows (cuda_rows.cuh) picks from. */
struct add_rms_norm_kernels : row_kernels {
  /* Rows longer than this stream: the 1024 x 32 config has no registers
   * left for the residual beside x and spills. */
  static constexpr int64_t REG_COLS = 16384;
  template <class T, int THREADS, int PT> static auto rows_kernel() {
    return add_rms_norm_rows_kernel<T, THREADS, PT>;
  }
  template <class T> static auto stream_kernel() { return add_rms_norm_stream_kernel<T>; }
};

} // namespace

static kiln_status kiln_cuda_add_rms_norm(void *state, const kiln_add_rms_norm_op *op) {
  add_rms_norm_args a;
  a.x = op->x->data;
  a.residual = op->residual->data;
  a.weight = op->weight->data;
  a.h = op->h->data;
  a.out = op->out->data;
  a.rows = op->rows;
  a.cols = op->cols;
  a.eps = op->eps;
  a.vec = rows_vectorized(op->dtype, op->cols, a.x, a.residual, a.weight, a.h, a.out);
  return run_rows<add_rms_norm_kernels>((kiln_cuda *)state, "kiln_add_rms_norm",
                                        "launching the add_rms_norm kernel", op->dtype, a);
}

KILN_CUDA_OP(add_rms_norm, kiln_cuda_add_rms_norm, NULL);
