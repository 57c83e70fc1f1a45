/*
 * What kiln_attention's CUDA kernels share: the op as kernels see it (one
 * struct of plain values, passed by value), where each sequence's rows are,
 * the check of the device-side lengths (cu_seqlens, seqlens_k), raised as
 * a deferred error (backend.h, cuda_deferred.cuh). The kernels are in
 * cuda_attention_general.cu (any shape, the correctness backbone and the
 * f32 path where the f32 tensor-core kernel is off or does not fit),
 * cuda_attention_mma.cu
 * (tensor cores, f16/bf16, D 32/64/128), cuda_attention_mma_f32.cu (tensor
 * cores for f32, 3xTF32, D 32/64/128) and cuda_attention_decode.cu
 * (split over keys, a few queries against long caches); cuda_attention.cu
 * routes between them.
 *
 * Layouts (kiln_attention_op in src/core/backend.h): token row t, head h of
 * q is at q + t * q_row + h * d (the op's head-0 offsets are folded into the
 * pointers on the host), out row t head h at out + (t * hq + h) * d. Scores
 * are kept in base 2: s = (q . k) * scale * log2(e) + mask * log2(e), so
 * every exponential is one exp2 (attn_exp2 in the tensor-core kernels).
 */
#ifndef KILN_CUDA_ATTENTION_CUH
#define KILN_CUDA_ATTENTION_CUH

#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "cuda_deferred.cuh"

#include <math.h>

namespace kiln_dev {

struct attn_args {
  const void *q, *k, *v; /* head 0 of token row 0 (offsets folded in) */
  void *out;
  const void *mask; /* optional additive mask, padded layout only */
  int64_t mask_b, mask_h, mask_q;
  const int32_t *seqlens_k;    /* optional, [batch] */
  const int32_t *cu_q, *cu_k;  /* optional (both or neither), [batch + 1] */
  int64_t q_row, k_row, v_row; /* elements between token rows */
  int batch, hq, hkv, group;   /* group = hq / hkv */
  int d;
  int64_t sq, sk;           /* padded lengths, or max_seqlen_q / _k */
  int64_t total_q, total_k; /* token rows of q and k */
  float scale_log2;         /* scale * log2(e) */
  bool causal;
  bool vec4; /* general kernel: k and v read 4 elements at a time */
  kiln_cuda_defer defer; /* where a bad length is raised */
};

/* Sequence b's rows: queries q_start .. q_start + lq - 1, keys k_start ..;
 * kv: the keys any query may see (lk, or seqlens_k[b] when given, which
 * also sets the causal diagonal, as FlashAttention's cache_seqlens);
 * shift = kv - lq (key j visible to query i when j <= i + shift). */
struct attn_seq {
  int64_t q_start, lq, k_start, lk, kv, shift;
};

__device__ __forceinline__ attn_seq attn_sequence(const attn_args &a, int b) {
  attn_seq s;
  if (a.cu_q) {
    s.q_start = __ldg(a.cu_q + b);
    s.lq = __ldg(a.cu_q + b + 1) - s.q_start;
    s.k_start = __ldg(a.cu_k + b);
    s.lk = __ldg(a.cu_k + b + 1) - s.k_start;
  } else {
    s.q_start = (int64_t)b * a.sq;
    s.lq = a.sq;
    s.k_start = (int64_t)b * a.sk;
    s.lk = a.sk;
  }
  s.kv = a.seqlens_k ? (int64_t)__ldg(a.seqlens_k + b) : s.lk;
  s.shift = s.kv - s.lq;
  return s;
}

/* The keys query i may see: 0 .. attn_key_end - 1 (<= 0: none). */
__device__ __forceinline__ int64_t attn_key_end(const attn_args &a, const attn_seq &s,
                                                int64_t i) {
  return a.causal ? min(s.kv, i + s.shift + 1) : s.kv;
}

static_assert(KILN_DEFER_ATTENTION_CU_Q_ORDER == KILN_DEFER_ATTENTION_CU_Q_FIRST + 1 &&
                  KILN_DEFER_ATTENTION_CU_Q_LONG == KILN_DEFER_ATTENTION_CU_Q_FIRST + 2 &&
                  KILN_DEFER_ATTENTION_CU_Q_LAST == KILN_DEFER_ATTENTION_CU_Q_FIRST + 3 &&
                  KILN_DEFER_ATTENTION_CU_K_ORDER == KILN_DEFER_ATTENTION_CU_K_FIRST + 1 &&
                  KILN_DEFER_ATTENTION_CU_K_LONG == KILN_DEFER_ATTENTION_CU_K_FIRST + 2 &&
                  KILN_DEFER_ATTENTION_CU_K_LAST == KILN_DEFER_ATTENTION_CU_K_FIRST + 3,
              "each array's codes in the order FIRST, ORDER, LONG, LAST");

/* One cu_seqlens array: entry 0 is 0, entries never decrease, no length
 * above max_len, the last entry is total. Thread t checks entries t,
 * t + stride, ...; false when it saw a bad one. code: the array's
 * KILN_DEFER_ATTENTION_CU_x_FIRST (then _ORDER, _LONG, _LAST follow it);
 * only_long: check lengths only (cu_seqlens_q standing in for the keys'
 * offsets, against max_seqlen_k), raised as long_code. */
__device__ __forceinline__ bool attn_cu_ok(const attn_args &a, const int32_t *cu, int64_t max_len,
                                           int64_t total, int code, bool only_long, int long_code,
                                           bool raise, int t, int stride) {
  bool ok = true;
  for (int b = t; b <= a.batch; b += stride) {
    const int c = __ldg(cu + b);
    const int prev = b > 0 ? __ldg(cu + b - 1) : 0;
    const int64_t len = (int64_t)c - prev;
    int bad = -1;
    int32_t value = c;
    long long limit = 0;
    if (b == 0) {
      if (c != 0 && !only_long)
        bad = code; /* _FIRST */
    } else if (c < prev) {
      if (!only_long)
        bad = code + 1, limit = prev; /* _ORDER */
    } else if (len > max_len) {
      bad = only_long ? long_code : code + 2; /* _LONG */
      value = (int32_t)min(len, (int64_t)INT32_MAX);
      limit = max_len;
    } else if (b == a.batch && c != total && !only_long) {
      bad = code + 3, limit = total; /* _LAST */
    }
    if (bad >= 0) {
      ok = false;
      if (raise)
        defer_raise(a.defer, (kiln_defer_code)bad, b, value, limit);
    }
  }
  return ok;
}

/* Whether every device-side length of the op is valid, checked by the
 * whole block (every thread must call it; it has a barrier). Every kernel
 * calls it before writing anything, so a bad length means nothing is
 * written, as on the CPU. Only block (0, 0, 0) raises what it found, so a
 * bad array costs a few atomics, not a few per block. */
__device__ __forceinline__ bool attn_lengths_ok(const attn_args &a) {
  if (!a.cu_q && !a.seqlens_k)
    return true;
  const bool raise = blockIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0;
  const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int stride = blockDim.x * blockDim.y * blockDim.z;
  bool ok = true;
  if (a.cu_q) {
    ok = attn_cu_ok(a, a.cu_q, a.sq, a.total_q, KILN_DEFER_ATTENTION_CU_Q_FIRST, false, 0, raise,
                    t, stride);
    /* When cu_k is cu_q, its lengths must fit max_seqlen_k too. */
    const bool shared = a.cu_k == a.cu_q;
    ok = attn_cu_ok(a, a.cu_k, a.sk, a.total_k, KILN_DEFER_ATTENTION_CU_K_FIRST, shared,
                    KILN_DEFER_ATTENTION_CU_Q_LONG_K, raise, t, stride) &&
         ok;
  }
  /* Checked against each sequence's own key count only when the cu
   * arrays are sound (else lk could be anything). */
  const bool cu_sound = __syncthreads_and(ok);
  if (a.seqlens_k && cu_sound) {
    for (int b = t; b < a.batch; b += stride) {
      const int v = __ldg(a.seqlens_k + b);
      const int64_t lk = a.cu_k ? (int64_t)__ldg(a.cu_k + b + 1) - __ldg(a.cu_k + b) : a.sk;
      if (v < 0 || v > lk) {
        ok = false;
        if (raise)
          defer_raise(a.defer, KILN_DEFER_ATTENTION_SEQLENS_K, b, v, lk);
      }
    }
  }
  return __syncthreads_and(ok);
}

/* exp2 of a score minus the running max (an argument <= 0, or -inf: 0) on
 * the SFU alone (exp2_sfu): exp2f's fix-up for subnormal results is three
 * more instructions per score on the FP32 pipe the online softmax shares
 * with the scaling and the max, and a probability under 2^-126 of the
 * row's largest is 0 in every dtype P is rounded to. */
__device__ __forceinline__ float attn_exp2(float x) { return exp2_sfu(x); }

/* The max to subtract from scores: -inf (nothing visible yet) becomes 0, so
 * exp2(-inf - 0) = 0 instead of exp2(-inf + inf) = NaN. */
__device__ __forceinline__ float attn_base(float m) { return m == -INFINITY ? 0.0f : m; }

constexpr float LOG2E = 1.4426950408889634f;

} // namespace kiln_dev

/* The kernels' launchers; each returns the launch's error, nothing else. */
cudaError_t kiln_cuda_attention_general(const kiln_dev::attn_args &a, kiln_dtype dtype,
                                        cudaStream_t stream);
/* Tensor cores: f16/bf16, d 32, 64 or 128, rows and pointers 16-byte
 * aligned (kiln_cuda_attention_mma_fits). */
bool kiln_cuda_attention_mma_fits(const kiln_dev::attn_args &a, kiln_dtype dtype);
cudaError_t kiln_cuda_attention_mma(const kiln_dev::attn_args &a, kiln_dtype dtype,
                                    cudaStream_t stream);
/* Tensor cores for f32 (three products of split operands, f32's accuracy):
 * d 32, 64 or 128, rows and pointers 16-byte aligned
 * (kiln_cuda_attention_mma_f32_fits). Runs the f16-piece kernel below, or
 * a TF32 split where KILN_CUDA_F32_MMA_SPLIT asks. */
bool kiln_cuda_attention_mma_f32_fits(const kiln_dev::attn_args &a, kiln_dtype dtype);
cudaError_t kiln_cuda_attention_mma_f32(const kiln_dev::attn_args &a, cudaStream_t stream);
/* The f16-piece kernel, with power-of-two scaling for range
 * (cuda_attention_mma_f32h.cu); the same shapes. */
cudaError_t kiln_cuda_attention_mma_f32h(const kiln_dev::attn_args &a, cudaStream_t stream);
/* Split over keys (kiln_cuda_attention_decode_fits); partials in work,
 * work_bytes long. */
bool kiln_cuda_attention_decode_fits(const kiln_dev::attn_args &a, kiln_dtype dtype);
cudaError_t kiln_cuda_attention_decode(const kiln_dev::attn_args &a, kiln_dtype dtype,
                                       int sm_count, void *work, size_t work_bytes,
                                       cudaStream_t stream);
/* Split over keys on tensor cores: f16/bf16, d 32, 64 or 128, 16-byte
 * aligned rows (kiln_cuda_attention_decode_mma_fits); partials in work,
 * the splits' meeting counters in counters (the context's attn_counters,
 * KILN_CUDA_ATTENTION_COUNTERS of them, zero between launches). */
bool kiln_cuda_attention_decode_mma_fits(const kiln_dev::attn_args &a, kiln_dtype dtype);
cudaError_t kiln_cuda_attention_decode_mma(const kiln_dev::attn_args &a, kiln_dtype dtype,
                                           int sm_count, void *work, size_t work_bytes,
                                           unsigned *counters, cudaStream_t stream);

/* cuDNN's fused attention (cuda_attention_cudnn.cu): f16/bf16, padded
 * layout, no additive mask and no seqlens_k; always false in a build
 * without cuDNN. The call sets *ran to false, and returns KILN_OK, where
 * cuDNN has no plan for the shape (remembered per context): the caller
 * then runs one of kiln's kernels. scale: the op's own (not in base 2). */
bool kiln_cuda_attention_cudnn_fits(const kiln_dev::attn_args &a, kiln_dtype dtype);
kiln_status kiln_cuda_attention_cudnn(kiln_cuda *st, const kiln_dev::attn_args &a,
                                      kiln_dtype dtype, float scale, const char *fn, bool *ran);

#endif /* KILN_CUDA_ATTENTION_CUH */
