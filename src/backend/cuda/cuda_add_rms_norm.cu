/*
 * kiln_add_rms_norm on the GPU: h = x + residual, rounded to the dtype and
 * stored, then out = rms_norm(h as stored), so the fused op and the
 * composite (kiln_add, kiln_rms_norm) agree. One kernel reads x and
 * residual once and writes h and out: rows that fit stay in registers (the
 * table of cuda_rows.cuh, as rms_norm); longer rows stream through one
 * block, the second pass reading back h as this thread wrote it.
 */
#include "cuda_backend.h"
#include "cuda_norm.cuh"

using namespace kiln_dev;

namespace {

template <class T, int THREADS, int PT>
__global__ void KILN_ROW_BOUNDS(THREADS) add_rms_norm_rows_kernel(norm_args a) {
  KILN_KERNEL_BEGIN();
  __shared__ float scratch[3][32];
  on_own_row<THREADS>(a.rows, [&](int64_t row, int r) {
    float squares = 0.0f;
    const auto h = add_residual<T, THREADS, PT>(
        a, row, r, [&](float v) { squares = fmaf(v, v, squares); });
    rms_norm_end<T, THREADS, PT>(a, row, r, h, squares, false, scratch);
  });
}

/* The kernels launch_rows (cuda_rows.cuh) picks from. */
struct add_rms_norm_kernels : row_kernels {
  /* Rows longer than this stream: the 1024 x 32 config has no registers
   * left for the residual beside x and spills. */
  static constexpr int64_t REG_COLS = 16384;
  template <class T, int THREADS, int PT> static auto rows_kernel() {
    return add_rms_norm_rows_kernel<T, THREADS, PT>;
  }
  template <class T> static auto stream_kernel() { return norm_stream_kernel<T, true, false>; }
};

} // namespace

static kiln_status kiln_cuda_add_rms_norm(void *state, const kiln_add_rms_norm_op *op) {
  return run_rows<add_rms_norm_kernels>(
      (kiln_cuda *)state, "kiln_add_rms_norm", "launching the add_rms_norm kernel", op->dtype,
      norm_args_of(op->dtype, op->x, op->residual, op->weight, NULL, op->h, op->out, op->rows,
                   op->cols, op->eps));
}

KILN_CUDA_OP(add_rms_norm, kiln_cuda_add_rms_norm, NULL);
