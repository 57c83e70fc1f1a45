/*
 * kiln_mean_pool on the GPU: one block per sequence. Its eight warps split
 * the sequence's rows (warp w sums rows w, w + 8, ...) over a chunk of 128
 * columns at a time, lanes on neighbouring columns so every row's loads
 * are coalesced; the warps' partial sums meet in shared memory, where the
 * whole row of means stays (f32) for the L2 step. The norm is taken of
 * the means scaled by a power of two that brings the largest to [0.5, 1),
 * so neither a huge mean (1e20s, whose squares overflow f32) nor a tiny
 * one (whose squares underflow) loses it; scaling by a power of two is
 * exact. Before anything is written, every block checks the lengths, and
 * block 0 raises what it found as a deferred error (nothing is written).
 */
#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "cuda_deferred.cuh"

using namespace kiln_dev;

namespace {

constexpr int POOL_THREADS = 256;
constexpr int POOL_WARPS = POOL_THREADS / 32;
/* Columns per chunk: four per lane. */
constexpr int POOL_CHUNK = 128;
/* The widest row whose means fit the shared memory an sm_90 block can ask
 * for (227 KiB), beside the warps' partial sums; wider rows go to the
 * composite (kiln_cuda_mean_pool_supports). */
constexpr int64_t POOL_MAX_COLS = 49152;

struct pool_args {
  const void *x;
  const int32_t *lengths; /* cu_seqlens [batch + 1], seqlens [batch], or NULL */
  void *out;
  int64_t batch, cols, total, seq;
  bool varlen, normalize;
  kiln_cuda_defer defer;
};

/* Whether the lengths are valid (the rules of pool_lengths.c), checked by
 * the whole block; every thread must call it (it has a barrier). */
__device__ __forceinline__ bool pool_lengths_ok(const pool_args &a) {
  if (!a.lengths)
    return true;
  const bool raise = blockIdx.x == 0;
  bool ok = true;
  if (a.varlen) {
    for (int64_t b = threadIdx.x; b <= a.batch; b += POOL_THREADS) {
      const int c = __ldg(a.lengths + b);
      const int prev = b > 0 ? __ldg(a.lengths + b - 1) : 0;
      int bad = -1;
      long long limit = 0;
      if (b == 0) {
        if (c != 0)
          bad = KILN_DEFER_POOL_CU_FIRST;
      } else if (c < prev) {
        bad = KILN_DEFER_POOL_CU_ORDER, limit = prev;
      } else if (b == a.batch && c != a.total) {
        bad = KILN_DEFER_POOL_CU_LAST, limit = a.total;
      }
      if (bad >= 0) {
        ok = false;
        if (raise)
          defer_raise(a.defer, (kiln_defer_code)bad, b, c, limit);
      }
    }
  } else {
    for (int64_t b = threadIdx.x; b < a.batch; b += POOL_THREADS) {
      const int v = __ldg(a.lengths + b);
      if (v < 0 || v > a.seq) {
        ok = false;
        if (raise)
          defer_raise(a.defer, KILN_DEFER_POOL_SEQLENS, b, v, a.seq);
      }
    }
  }
  return __syncthreads_and(ok);
}

/* 2^-e for the exponent e of m (m in [2^(e-1), 2^e)), e kept >= -126 so
 * the factor stays finite. m finite and > 0. */
__device__ __forceinline__ float pool_pow2_scale(float m) {
  int e;
  frexpf(m, &e);
  return ldexpf(1.0f, -(e < -126 ? -126 : e));
}

template <class T>
__global__ void __launch_bounds__(POOL_THREADS) mean_pool_kernel(pool_args a) {
  KILN_KERNEL_BEGIN();
  extern __shared__ float pool_shared[];
  __shared__ float scratch[2][POOL_WARPS];
  float *means = pool_shared, *part = pool_shared + a.cols; /* part: [POOL_WARPS][POOL_CHUNK] */
  if (!pool_lengths_ok(a))
    return;
  const int64_t b = blockIdx.x, cols = a.cols;
  int64_t start, count;
  if (a.varlen) {
    start = __ldg(a.lengths + b);
    count = (int64_t)__ldg(a.lengths + b + 1) - start;
  } else {
    start = b * a.seq;
    count = a.lengths ? __ldg(a.lengths + b) : a.seq;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const T *x = (const T *)a.x + start * cols;
  for (int64_t c0 = 0; c0 < cols; c0 += POOL_CHUNK) {
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll 4
    for (int64_t i = warp; i < count; i += POOL_WARPS) {
      const T *row = x + i * cols;
#pragma unroll
      for (int k = 0; k < 4; k++) {
        const int64_t c = c0 + k * 32 + lane;
        if (c < cols)
          acc[k] += to_f32(__ldg(row + c));
      }
    }
#pragma unroll
    for (int k = 0; k < 4; k++)
      part[warp * POOL_CHUNK + k * 32 + lane] = acc[k];
    __syncthreads();
    if (threadIdx.x < POOL_CHUNK) {
      float s = 0.0f;
#pragma unroll
      for (int w = 0; w < POOL_WARPS; w++)
        s += part[w * POOL_CHUNK + threadIdx.x];
      const int64_t c = c0 + threadIdx.x;
      if (c < cols)
        means[c] = count ? s / (float)count : 0.0f; /* empty: zeros */
    }
    __syncthreads(); /* part is reused; means complete after the last chunk */
  }
  T *out = (T *)a.out + b * cols;
  if (!a.normalize) {
    for (int64_t c = threadIdx.x; c < cols; c += POOL_THREADS)
      out[c] = from_f32<T>(means[c]);
    return;
  }
  /* |m|, through m * k with k the power of two that brings max |m| to
   * [0.5, 1): out = (m * k) / |m * k|. A max of 0 (every mean zero, or
   * NaN) or +inf gives factor 0: zeros, NaN at the infinities, NaN rows
   * stay NaN through the sum. */
  float mx = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += POOL_THREADS)
    mx = fmaxf(mx, fabsf(means[c]));
  mx = block_reduce<POOL_THREADS>(mx, op_max{}, scratch[0]);
  const bool usable = mx > 0.0f && mx < INFINITY;
  const float k = usable ? pool_pow2_scale(mx) : 1.0f;
  float sq = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += POOL_THREADS) {
    const float t = means[c] * k;
    sq = fmaf(t, t, sq);
  }
  sq = block_reduce<POOL_THREADS>(sq, op_sum{}, scratch[1]);
  /* sq NaN: rsqrtf gives NaN, and so does every element */
  const float r = usable || isnan(sq) ? rsqrtf(sq) : 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += POOL_THREADS)
    out[c] = from_f32<T>(means[c] * k * r);
}

} // namespace

static bool kiln_cuda_mean_pool_supports(void *state, const kiln_op *whole) {
  (void)state;
  return whole->u.mean_pool.cols <= POOL_MAX_COLS;
}

static kiln_status kiln_cuda_mean_pool(void *state, const kiln_mean_pool_op *op) {
  kiln_cuda *st = (kiln_cuda *)state;
  static const char *const fn = "kiln_mean_pool";
  pool_args a;
  a.x = op->x->data;
  a.lengths = op->lengths ? (const int32_t *)op->lengths->data : NULL;
  a.out = op->out->data;
  a.batch = op->batch;
  a.cols = op->cols;
  a.total = op->total;
  a.seq = op->seq;
  a.varlen = op->varlen;
  a.normalize = op->normalize;
  a.defer = kiln_cuda_defer_of(st);
  if (op->batch > INT32_MAX)
    return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: %lld sequences are more than one launch holds",
                     fn, (long long)op->batch);
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  const size_t bytes = (size_t)(op->cols + POOL_WARPS * POOL_CHUNK) * sizeof(float);
  const cudaError_t err = with_dtype(op->dtype, [&](auto zero) {
    using T = decltype(zero);
    void (*kernel)(pool_args) = mean_pool_kernel<T>;
    if (bytes > 48 * 1024) {
      const cudaError_t e =
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
      if (e != cudaSuccess)
        return e;
    }
    return launch(kernel, dim3((unsigned)op->batch), dim3(POOL_THREADS), bytes, st->stream, a);
  });
  return kiln_cuda_check(err, fn, "launching the mean_pool kernel");
}

KILN_CUDA_OP(mean_pool, kiln_cuda_mean_pool, kiln_cuda_mean_pool_supports);
