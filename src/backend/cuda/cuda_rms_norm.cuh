/*
 * RMSNorm's row arithmetic on the GPU, shared by kiln_rms_norm and
 * kiln_add_rms_norm so that the fused op normalizes h exactly as the
 * composite's rms_norm does (same slots, same reductions, same roundings):
 * the end of a row in registers (rms_norm_end), and the kernel of a
 * streamed row. A row whose sum of squares overflows f32 is summed again,
 * scaled (rescaled_inv_rms, cuda_rows.cuh).
 */
#ifndef KILN_CUDA_RMS_NORM_CUH
#define KILN_CUDA_RMS_NORM_CUH

#include "cuda_norm.cuh"

namespace kiln_dev {

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
  row_regs<T, THREADS, PT, T>::store_scaled_with((T *)a.out + row * a.cols, (int)a.cols, a.vec, r,
                                                 inv, (const T *)a.weight, cs,
                                                 [&](int s) { return x.at(s); });
}

} // namespace kiln_dev

namespace {

using namespace kiln_dev;

/* A row too long for registers: pass one sums the squares of x (ADD: of h,
 * made and stored on the way, stream_norm_source), pass two reads the row
 * again and writes (stream_rms_store; the fused op reads the weight through
 * the read-only cache). */
template <class T, bool ADD>
__global__ void __launch_bounds__(STREAM_THREADS) rms_norm_stream_kernel(norm_args a) {
  KILN_KERNEL_BEGIN();
  __shared__ float scratch[3][32];
  const stream_row<T> s(a.vec);
  float squares = 0.0f;
  const T *src =
      stream_norm_source<T, ADD>(s, a, [&](float v) { squares = fmaf(v, v, squares); });
  stream_rms_store<T, ADD>(s, squares, src, (const T *)a.weight,
                           (T *)a.out + (int64_t)blockIdx.x * a.cols, a.cols, a.eps, scratch);
}

} // namespace

#endif /* KILN_CUDA_RMS_NORM_CUH */
