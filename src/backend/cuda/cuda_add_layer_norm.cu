/*
 * kiln_add_layer_norm on the GPU: h = x + residual, rounded to the dtype and
 * stored, then out = layer_norm(h as stored) with kiln_layer_norm's own row
 * arithmetic (cuda_layer_norm.cuh), so the fused op and the composite
 * (kiln_add, kiln_layer_norm) agree to the bit. One kernel reads x and
 * residual once and writes h and out: rows that fit stay in registers
 * (the table of cuda_rows.cuh, as layer_norm); longer rows stream through
 * one block, the later passes reading back h as this thread wrote it.
 */
#include "cuda_backend.h"
#include "cuda_layer_norm.cuh"

using namespace kiln_dev;

namespace {

struct add_layer_norm_args {
  const void *x, *residual, *weight, *bias; /* weight, bias may be NULL */
  void *h;   /* may be x or residual */
  void *out; /* overlaps nothing */
  int64_t rows, cols;
  float eps;
  bool vec; /* every row, the weight and the bias start 16-byte aligned */
};

/* A register cap, as layer_norm's rows kernel has (its comment says why),
 * but at 1024 threads per SM (64 registers) rather than 1536 (40): with
 * the residual's slots beside h, ptxas spilled 136-176 bytes per thread of
 * the f32 PT = 16 configs (BERT's 384-wide f32 rows among them) under 40,
 * and 4-16 bytes under 64 (nvcc 13, sm_90). Not yet timed on a GPU. */
template <class T, int THREADS, int PT>
__global__ void KILN_ROW_BOUNDS_MIN(THREADS, 1024) add_layer_norm_rows_kernel(add_layer_norm_args a) {
  KILN_KERNEL_BEGIN();
  __shared__ float scratch[4][32];
  int64_t row;
  int r;
  if (!row_of<THREADS>(a.rows, row, r))
    return;
  const int cols = (int)a.cols;
  const int64_t offset = row * a.cols;
  /* Kept as T: h is rounded to T anyway, and T halves the registers. Slots
   * past the row's end hold 0 + 0, as ln_row_stats needs. */
  row_regs<T, THREADS, PT, T> h, res;
  h.load((const T *)a.x + offset, cols, a.vec, r, 0.0f);
  res.load((const T *)a.residual + offset, cols, a.vec, r, 0.0f);
#pragma unroll
  for (int s = 0; s < PT; s++)
    h.v[s] = from_f32<T>(h.at(s) + res.at(s)); /* the rounding h is stored with */
  h.store((T *)a.h + offset, cols, a.vec, r);
  float mean, inv;
  ln_row_stats<THREADS, PT>(h, cols, a.vec, r, a.eps, scratch, mean, inv);
  ln_store_affine<T, THREADS, PT>(h, (T *)a.out + offset, (const T *)a.weight, (const T *)a.bias,
                                  cols, a.vec, r, mean, inv);
}

/* A row too long for registers: pass one adds, stores h and sums it; the
 * deviations and the write read h back (the same thread's own writes, so
 * no barrier is needed for them). */
template <class T>
__global__ void __launch_bounds__(STREAM_THREADS) add_layer_norm_stream_kernel(add_layer_norm_args a) {
  KILN_KERNEL_BEGIN();
  constexpr int V = VW<T>;
  __shared__ float scratch[4][32];
  const stream_row<T> s(a.vec);
  const int64_t offset = (int64_t)blockIdx.x * a.cols;
  const T *x = (const T *)a.x + offset, *res = (const T *)a.residual + offset;
  T *h = (T *)a.h + offset, *out = (T *)a.out + offset;
  float sum = 0.0f;
  s.each(a.cols, [&](int64_t c) {
    float y[V], z[V];
    s.load(x, c, y);
    s.load(res, c, z);
    for (int u = 0; u < s.width; u++) {
      y[u] = to_f32(from_f32<T>(y[u] + z[u])); /* the rounding h is stored with */
      sum += y[u];
    }
    s.store(h, c, y);
  });
  float mean, inv;
  ln_stream_stats(s, (const T *)h, a.cols, sum, a.eps, scratch, mean, inv);
  ln_stream_store(s, (const T *)h, (const T *)a.weight, (const T *)a.bias, out, a.cols, mean, inv);
}

/* The kernels launch_rows (cuda_rows.cuh) picks from: layer_norm's limit,
 * so both ops take the same config (and the same bits) for a row. */
struct add_layer_norm_kernels : row_kernels {
  static constexpr int64_t REG_COLS = 16384;
  template <class T, int THREADS, int PT> static auto rows_kernel() {
    return add_layer_norm_rows_kernel<T, THREADS, PT>;
  }
  template <class T> static auto stream_kernel() { return add_layer_norm_stream_kernel<T>; }
};

} // namespace

static kiln_status kiln_cuda_add_layer_norm(void *state, const kiln_add_layer_norm_op *op) {
  add_layer_norm_args a;
  a.x = op->x->data;
  a.residual = op->residual->data;
  a.weight = op->weight ? op->weight->data : NULL;
  a.bias = op->bias ? op->bias->data : NULL;
  a.h = op->h->data;
  a.out = op->out->data;
  a.rows = op->rows;
  a.cols = op->cols;
  a.eps = op->eps;
  a.vec = rows_vectorized(op->dtype, op->cols, a.x, a.residual, a.weight, a.bias, a.h, a.out);
  return run_rows<add_layer_norm_kernels>((kiln_cuda *)state, "kiln_add_layer_norm",
                                          "launching the add_layer_norm kernel", op->dtype, a);
}

KILN_CUDA_OP(add_layer_norm, kiln_cuda_add_layer_norm, NULL);
