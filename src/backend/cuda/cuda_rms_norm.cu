/*
 * kiln_rms_norm on the GPU: out = x / sqrt(mean(x^2) + eps) * weight over
 * the last axis, in f32 for every dtype. Rows that fit are held in
 * registers and read once (cuda_rows.cuh has the table of configs by
 * width); the weight is read as the row is written, from L2 where every
 * row finds it. Longer rows stream through one block in two passes. A row
 * whose sum of squares overflows f32 is summed again, scaled
 * (rescaled_inv_rms in cuda_rows.cuh).
 */
#include "cuda_backend.h"
#include "cuda_norm.cuh"

using namespace kiln_dev;

namespace {

/* One row per warp or block, the weight read from L2 as the row is
 * written. Holding the weight in registers instead, with a grid of
 * resident blocks striding over the rows so each loads it once, saved the
 * L2 traffic but halved the occupancy (62-72 registers): measured against
 * this kernel on the H100 (2026-11-25), it was 1-7% slower at
 * 16384 x 4096, 65536 x 1024 and bf16 4096 x 32768, 1% faster only at f32
 * 4096 x 32768. The register cap (1536 threads per SM, 40 registers) keeps
 * ptxas from hoisting the weight loads into 64: f32 16384 x 4096 went from
 * 2.64 to 2.84 TB/s. */
template <class T, int THREADS, int PT, class R>
__device__ __forceinline__ void rms_norm_row(const norm_args &a, int64_t row, int r, const R &x,
                                             float (&scratch)[3][32]) {
  float squares = 0.0f;
#pragma unroll
  for (int s = 0; s < PT; s++)
    squares = fmaf(x.at(s), x.at(s), squares);
  rms_norm_end<T, THREADS, PT>(a, row, r, x, squares, a.cs, scratch);
}

/* The register cap of the kernel below where a thread's share of the row
 * fits in 16 registers; where it does not (the alternatives of 32 f32 or
 * 64 bf16 values), or the next row sits beside it (PF), 64 registers, at
 * least 1024 threads per SM. For the width table's configs (KEPT and PF
 * false) that is 1536 threads but for the widest f32 rows, where either
 * cap is one 1024-thread block. */
template <class T, int PT, bool PF> constexpr int rms_min_threads() {
  return PF || PT * sizeof(T) > 64 ? 1024 : 1536;
}

/* Rows in registers (rows_in_regs), and the variants of row_plan: KEPT,
 * the row packed in row_words (half the registers of row_regs for 16-bit
 * T); PF, a persistent grid with the next row's loads in flight. */
template <class T, int THREADS, int PT, bool KEPT, bool PF>
__global__ void KILN_ROW_BOUNDS_MIN(THREADS, (rms_min_threads<T, PT, PF>()))
    rms_norm_rows_kernel(norm_args a) {
  KILN_KERNEL_BEGIN();
  using R = typename std::conditional<KEPT, row_words<T, THREADS, PT>,
                                      row_regs<T, THREADS, PT, T>>::type;
  __shared__ float scratch[PF ? 2 : 1][3][32];
  rows_in_regs<T, THREADS, PT, R, PF>(a, 0.0f, scratch,
                                      [&](int64_t row, int r, const R &x, auto &set) {
                                        rms_norm_row<T, THREADS, PT>(a, row, r, x, set);
                                      });
}

/* The widest rows with the next row's copies in flight (wide_rows);
 * KEPT: packed (row_words), at WIDE_THREADS or half as many threads. */
template <class T, int CHUNKS, bool KEPT, int TH>
__global__ void __launch_bounds__(TH, WIDE_THREADS / TH) rms_norm_wide_kernel(norm_args a) {
  KILN_KERNEL_BEGIN();
  constexpr int PT = WIDE_THREADS * WIDE_PT / TH;
  using R = typename std::conditional<KEPT, row_words<T, TH, PT>, row_regs<T, TH, PT, T>>::type;
  __shared__ float scratch[3][32];
  wide_rows<T, R, TH, PT, CHUNKS>((const T *)a.x, a.rows, (int)a.cols, 0.0f,
                                  [&](int64_t row, const R &x) {
                                    rms_norm_row<T, TH, PT>(a, row, threadIdx.x, x, scratch);
                                  });
}

/* The kernels launch_rows (cuda_rows.cuh) picks from. */
struct rms_norm_kernels : row_kernels {
  template <class T, int THREADS, int PT> static auto rows_kernel() {
    return rms_norm_rows_kernel<T, THREADS, PT, false, false>;
  }
  template <class T> static auto stream_kernel() { return norm_stream_kernel<T, false, false>; }
  static constexpr bool WIDE = true;
  static constexpr bool TUNES = true;
  static constexpr row_op OP = ROW_OP_RMS_NORM;
  static constexpr bool KEPT = true;
  template <class T, int THREADS, int PT, bool KEPT, bool PF> static auto tuned_kernel() {
    return rms_norm_rows_kernel<T, THREADS, PT, KEPT, PF>;
  }
  template <class T, int CHUNKS, bool KEPT, int TH> static auto wide_kernel() {
    return rms_norm_wide_kernel<T, CHUNKS, KEPT, TH>;
  }
};

} // namespace

static kiln_status kiln_cuda_rms_norm(void *state, const kiln_rms_norm_op *op) {
  return run_rows<rms_norm_kernels>(
      (kiln_cuda *)state, "kiln_rms_norm", "launching the rms_norm kernel", op->dtype,
      norm_args_of(op->dtype, op->x, NULL, op->weight, NULL, NULL, op->out, op->rows, op->cols,
                   op->eps));
}

KILN_CUDA_OP(rms_norm, kiln_cuda_rms_norm, NULL);
