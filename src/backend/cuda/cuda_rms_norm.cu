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
#include "cuda_rows.cuh"

using namespace kiln_dev;

namespace {

struct rms_norm_args {
  const void *x, *weight;
  void *out; /* may be x */
  int64_t rows, cols;
  float eps;
  bool vec; /* rows and weight start 16-byte aligned: vector loads */
  bool cs;  /* streaming stores (row_plan) */
  uint32_t zero; /* 0, unknown to the compiler (row_words::touch) */
};

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
__device__ __forceinline__ void rms_norm_row(const rms_norm_args &a, int64_t row, int r, R x,
                                             float (&scratch)[3][32]) {
  float squares = 0.0f;
#pragma unroll
  for (int s = 0; s < PT; s++)
    squares = fmaf(x.at(s), x.at(s), squares);
  squares = row_reduce<THREADS>(squares, op_sum{}, scratch[0]);
  float inv = rsqrtf(squares / (float)a.cols + a.eps);
  if (squares == INFINITY) /* rare: entries above 1.8e19 (cuda_rows.cuh) */
    inv = rescaled_inv_rms<THREADS, PT>([&](int s) { return x.at(s); }, (float)a.cols, a.eps,
                                        scratch[1], scratch[2]);
  if constexpr (std::is_same<R, row_words<T, THREADS, PT>>::value)
    x.touch(a.zero); /* converted again at the store, not kept as floats */
  row_regs<T, THREADS, PT, T>::store_scaled_with((T *)a.out + row * a.cols, (int)a.cols, a.vec, r,
                                                 inv, (const T *)a.weight, a.cs,
                                                 [&](int s) { return x.at(s); });
}

template <class T, int THREADS, int PT>
__global__ void KILN_ROW_BOUNDS_MIN(THREADS, 1536) rms_norm_rows_kernel(rms_norm_args a) {
  KILN_KERNEL_BEGIN();
  __shared__ float scratch[3][32];
  int64_t row;
  int r;
  if (!row_of<THREADS>(a.rows, row, r))
    return;
  row_regs<T, THREADS, PT, T> x; /* only read back: kept as T */
  x.load((const T *)a.x + row * a.cols, (int)a.cols, a.vec, r, 0.0f);
  rms_norm_row<T, THREADS, PT>(a, row, r, x, scratch);
}

/* The variant of row_plan: PF, a persistent grid whose thread groups walk
 * rows with the next row's loads in flight while they work on this one
 * (the scratch alternating between two sets from row to row, so a fast
 * warp's next row cannot overwrite what a slow one has yet to read). */
/* The register cap of rms_norm_rows_kernel where a thread's share of the
 * row fits in 16 registers; where it does not (the alternatives of 32 f32
 * or 64 bf16 values), or the next row sits beside it (PF), 64 registers,
 * at least 1024 threads per SM. */
template <class T, int PT, bool PF> constexpr int rms_min_threads() {
  return PF || PT * sizeof(T) > 64 ? 1024 : 1536;
}

/* KEPT: the row packed in row_words (half the registers of row_regs for
 * 16-bit T). */
template <class T, int THREADS, int PT, bool KEPT, bool PF>
__global__ void KILN_ROW_BOUNDS_MIN(THREADS, (rms_min_threads<T, PT, PF>()))
    rms_norm_tuned_kernel(rms_norm_args a) {
  KILN_KERNEL_BEGIN();
  __shared__ float scratch[PF ? 2 : 1][3][32];
  int64_t row;
  int r;
  if (!row_of<THREADS>(a.rows, row, r))
    return;
  const int cols = (int)a.cols;
  const T *x0 = (const T *)a.x;
  if constexpr (!PF) {
    if constexpr (KEPT) {
      row_words<T, THREADS, PT> x;
      x.load(x0 + row * a.cols, cols, a.vec, r, 0.0f);
      rms_norm_row<T, THREADS, PT>(a, row, r, x, scratch[0]);
    } else {
      row_regs<T, THREADS, PT, T> x;
      x.load(x0 + row * a.cols, cols, a.vec, r, 0.0f);
      rms_norm_row<T, THREADS, PT>(a, row, r, x, scratch[0]);
    }
  } else {
    const int64_t stride = row_stride<THREADS>();
    row_words<T, THREADS, PT> next; /* packed: half the registers of row_regs for 16-bit */
    next.load(x0 + row * a.cols, cols, a.vec, r, 0.0f);
    for (int it = 0; row < a.rows; row += stride, it ^= 1) {
      if constexpr (KEPT) {
        const row_words<T, THREADS, PT> x = next;
        if (row + stride < a.rows)
          next.load(x0 + (row + stride) * a.cols, cols, a.vec, r, 0.0f);
        rms_norm_row<T, THREADS, PT>(a, row, r, x, scratch[it]);
      } else {
        row_regs<T, THREADS, PT, T> x;
#pragma unroll
        for (int s = 0; s < PT; s++)
          x.v[s] = next.elem(s);
        if (row + stride < a.rows)
          next.load(x0 + (row + stride) * a.cols, cols, a.vec, r, 0.0f);
        rms_norm_row<T, THREADS, PT>(a, row, r, x, scratch[it]);
      }
    }
  }
}

/* The widest rows with the next row's copies in flight (wide_rows);
 * KEPT: packed (row_words), at WIDE_THREADS or half as many threads. */
template <class T, int CHUNKS, bool KEPT, int TH>
__global__ void __launch_bounds__(TH, WIDE_THREADS / TH) rms_norm_wide_kernel(rms_norm_args a) {
  KILN_KERNEL_BEGIN();
  constexpr int PT = WIDE_THREADS * WIDE_PT / TH;
  using R = typename std::conditional<KEPT, row_words<T, TH, PT>, row_regs<T, TH, PT, T>>::type;
  __shared__ float scratch[3][32];
  wide_rows<T, R, TH, PT, CHUNKS>((const T *)a.x, a.rows, (int)a.cols, 0.0f,
                                  [&](int64_t row, const R &x) {
                                    rms_norm_row<T, TH, PT>(a, row, threadIdx.x, x, scratch);
                                  });
}

/* A row too long for registers: pass one sums the squares, pass two reads
 * the row again and writes (stream_rms_store). */
template <class T>
__global__ void __launch_bounds__(STREAM_THREADS) rms_norm_stream_kernel(rms_norm_args a) {
  KILN_KERNEL_BEGIN();
  __shared__ float scratch[3][32];
  const stream_row<T> s(a.vec);
  const T *x = (const T *)a.x + (int64_t)blockIdx.x * a.cols;
  T *out = (T *)a.out + (int64_t)blockIdx.x * a.cols;
  float squares = 0.0f;
  s.each_value(x, a.cols, [&](float v) { squares = fmaf(v, v, squares); });
  stream_rms_store<T, false>(s, squares, x, (const T *)a.weight, out, a.cols, a.eps, scratch);
}

/* The kernels launch_rows (cuda_rows.cuh) picks from. */
struct rms_norm_kernels : row_kernels {
  template <class T, int THREADS, int PT> static auto rows_kernel() {
    return rms_norm_rows_kernel<T, THREADS, PT>;
  }
  template <class T> static auto stream_kernel() { return rms_norm_stream_kernel<T>; }
  static constexpr bool WIDE = true;
  static constexpr bool TUNES = true;
  static constexpr row_op OP = ROW_OP_RMS_NORM;
  static constexpr bool KEPT = true;
  template <class T, int THREADS, int PT, bool KEPT, bool PF> static auto tuned_kernel() {
    return rms_norm_tuned_kernel<T, THREADS, PT, KEPT, PF>;
  }
  template <class T, int CHUNKS, bool KEPT, int TH> static auto wide_kernel() {
    return rms_norm_wide_kernel<T, CHUNKS, KEPT, TH>;
  }
};

} // namespace

static kiln_status kiln_cuda_rms_norm(void *state, const kiln_rms_norm_op *op) {
  rms_norm_args a;
  a.x = op->x->data;
  a.weight = op->weight->data;
  a.out = op->out->data;
  a.rows = op->rows;
  a.cols = op->cols;
  a.eps = op->eps;
  a.vec = rows_vectorized(op->dtype, op->cols, a.x, a.weight, a.out);
  a.cs = false;
  a.zero = 0;
  return run_rows<rms_norm_kernels>((kiln_cuda *)state, "kiln_rms_norm",
                                    "launching the rms_norm kernel", op->dtype, a);
}

KILN_CUDA_OP(rms_norm, kiln_cuda_rms_norm, NULL);
