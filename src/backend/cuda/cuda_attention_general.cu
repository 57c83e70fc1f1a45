/*
 * The general attention kernel: every dtype, D from 1 to 256, every layout,
 * mask and length the op allows. The correctness backbone (every other
 * kernel falls back to it) and f32's path wherever the 3xTF32 kernel
 * (cuda_attention_mma_f32.cu) is off or does not take the shape.
 *
 * A block of THREADS threads takes ROWS = R * THREADS / G query rows of
 * one (sequence, head); G threads share a row, each holding DT of its
 * (zero-padded) dims of q and of the output accumulator in registers, in
 * f32, for R rows (R = 2 for short rows: each shared read feeds both).
 * Keys and values stream through shared memory in tiles of BK rows
 * converted to f32; every thread reads the same key row at a time
 * (broadcast), its G threads adjacent 16-byte pieces of it (distinct banks).
 * Scores are taken CHUNK keys at a time: CHUNK dot products (summed over G
 * threads by butterfly shuffles, so all G hold the same bits), one max, one
 * rescale of the accumulator, CHUNK exponentials and CHUNK rows of V. The softmax
 * is online (running max m and sum l), so no [Sq, Sk] matrix exists anywhere.
 *
 * Thread t's dims: 16-byte piece c = t % G + G * e of the row, e < DT / 4,
 * i.e. dims 4c .. 4c + 3; its rows: t / G + k * THREADS / G, k < R.
 */
#include "cuda_attention.cuh"

using namespace kiln_dev;

namespace {

/* Keys per online-softmax step: R * CHUNK scores live in registers. */
__host__ __device__ constexpr int chunk_of(int rows) { return 16 / rows; }

/* Four consecutive elements of k and of v (4-element aligned), as f32. */
__device__ __forceinline__ void load4(const float *k, const float *v, float (&kx)[4],
                                      float (&vx)[4]) {
  const float4 a = __ldg(reinterpret_cast<const float4 *>(k));
  const float4 b = __ldg(reinterpret_cast<const float4 *>(v));
  kx[0] = a.x, kx[1] = a.y, kx[2] = a.z, kx[3] = a.w;
  vx[0] = b.x, vx[1] = b.y, vx[2] = b.z, vx[3] = b.w;
}
template <class T>
__device__ __forceinline__ void load4(const T *k, const T *v, float (&kx)[4], float (&vx)[4]) {
  const uint2 a = __ldg(reinterpret_cast<const uint2 *>(k));
  const uint2 b = __ldg(reinterpret_cast<const uint2 *>(v));
  T ka[4], va[4];
  memcpy(ka, &a, sizeof a);
  memcpy(va, &b, sizeof b);
#pragma unroll
  for (int u = 0; u < 4; u++) {
    kx[u] = to_f32(ka[u]);
    vx[u] = to_f32(va[u]);
  }
}

/* THREADS threads, G per query row, each with DT dims of R rows. */
template <int G, int DT, int R, int THREADS> struct gen_shape {
  static constexpr int DP = G * DT;                     /* padded head dim */
  static constexpr int SPAN = THREADS / G;              /* row slots per block */
  static constexpr int ROWS = SPAN * R;                 /* query rows per block */
  static constexpr int BK = DP <= 64 ? 64 : 4096 / DP;  /* keys per tile: <= 16 KB per operand */
  static constexpr int CHUNK = chunk_of(R);
  static_assert(BK % CHUNK == 0, "a tile is whole chunks");
  static_assert(DT % 4 == 0 && (G & (G - 1)) == 0 && G <= 32, "16-byte pieces, G | 32");
  static_assert(THREADS % 32 == 0 && THREADS % G == 0, "whole warps, whole rows");
};

/* Thread t's rows: slot t / G, then slot + SPAN, ... (R of them). */
template <class T, int G, int DT, int R, int THREADS>
__global__ void __launch_bounds__(THREADS) attn_general_kernel(attn_args a) {
  KILN_KERNEL_BEGIN();
  using S = gen_shape<G, DT, R, THREADS>;
  constexpr int DP = S::DP, SPAN = S::SPAN, ROWS = S::ROWS, BK = S::BK, E = DT / 4;
  constexpr int CHUNK = S::CHUNK;
  __shared__ __align__(16) float ks[BK * DP];
  __shared__ __align__(16) float vs[BK * DP];
  if (!attn_lengths_ok(a))
    return; /* nothing written; block (0, 0, 0) recorded why */

  const int h = blockIdx.y, g = h / a.group;
  const int slot = threadIdx.x / G, part = threadIdx.x % G;
  for (int b = blockIdx.z; b < a.batch; b += gridDim.z) {
    const attn_seq s = attn_sequence(a, b);
    const int64_t q0 = (int64_t)blockIdx.x * ROWS;
    if (q0 >= s.lq)
      continue; /* uniform over the block: every barrier below is reached by all */
    /* attn_key_end does not decrease with i: the block's last row sees most. */
    const int64_t block_end = attn_key_end(a, s, min(q0 + ROWS, s.lq) - 1);

    float q[R][DT], acc[R][DT], m[R], l[R];
    int64_t kend[R];
    const T *mp[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
      const int64_t i = q0 + slot + r * SPAN;
      const bool row_ok = i < s.lq;
      kend[r] = row_ok ? attn_key_end(a, s, i) : 0; /* a row past the end sees nothing */
      mp[r] = a.mask && row_ok ? (const T *)a.mask + b * a.mask_b + h * a.mask_h + i * a.mask_q
                               : nullptr;
      const T *qp = (const T *)a.q + (s.q_start + (row_ok ? i : 0)) * a.q_row + (int64_t)h * a.d;
#pragma unroll
      for (int e = 0; e < E; e++)
#pragma unroll
        for (int u = 0; u < 4; u++) {
          const int dim = 4 * (part + G * e) + u;
          q[r][4 * e + u] = row_ok && dim < a.d ? to_f32(qp[dim]) * a.scale_log2 : 0.0f;
          acc[r][4 * e + u] = 0.0f;
        }
      m[r] = -INFINITY;
      l[r] = 0.0f;
    }
    const T *kp = (const T *)a.k + s.k_start * a.k_row + (int64_t)g * a.d;
    const T *vp = (const T *)a.v + s.k_start * a.v_row + (int64_t)g * a.d;

    for (int64_t k0 = 0; k0 < block_end; k0 += BK) {
      const int nk = (int)min((int64_t)BK, block_end - k0);
      __syncthreads(); /* the previous tile is no longer read */
      if (a.vec4) {
        /* 4 elements per load, all of this tile's loads in flight at once. */
        constexpr int PIECES = BK * DP / 4, TURNS = PIECES / THREADS;
        static_assert(PIECES % THREADS == 0, "whole turns");
#pragma unroll
        for (int it = 0; it < TURNS; it++) {
          const int e = threadIdx.x + it * THREADS;
          const int j = e / (DP / 4), dim = e % (DP / 4) * 4;
          float kx[4] = {0.0f, 0.0f, 0.0f, 0.0f}, vx[4] = {0.0f, 0.0f, 0.0f, 0.0f};
          if (j < nk && dim < a.d) /* d % 4 == 0: all four are in the row */
            load4(kp + (k0 + j) * a.k_row + dim, vp + (k0 + j) * a.v_row + dim, kx, vx);
          *reinterpret_cast<float4 *>(ks + j * DP + dim) = make_float4(kx[0], kx[1], kx[2], kx[3]);
          *reinterpret_cast<float4 *>(vs + j * DP + dim) = make_float4(vx[0], vx[1], vx[2], vx[3]);
        }
      } else {
#pragma unroll 4
        for (int e = threadIdx.x; e < BK * DP; e += THREADS) {
          const int j = e / DP, dim = e % DP;
          float kx = 0.0f, vx = 0.0f; /* zeros past the keys and the dims: 0 * 0, never NaN */
          if (j < nk && dim < a.d) {
            kx = to_f32(kp[(k0 + j) * a.k_row + dim]);
            vx = to_f32(vp[(k0 + j) * a.v_row + dim]);
          }
          ks[e] = kx;
          vs[e] = vx;
        }
      }
      __syncthreads();
      for (int c0 = 0; c0 < nk; c0 += CHUNK) {
        float sc[R][CHUNK];
#pragma unroll
        for (int c = 0; c < CHUNK; c++) {
          const float4 *kr = reinterpret_cast<const float4 *>(ks + (c0 + c) * DP);
          float p[R];
#pragma unroll
          for (int r = 0; r < R; r++)
            p[r] = 0.0f;
#pragma unroll
          for (int e = 0; e < E; e++) {
            const float4 kk = kr[part + G * e]; /* one read for all R rows */
#pragma unroll
            for (int r = 0; r < R; r++) {
              p[r] = fmaf(q[r][4 * e], kk.x, p[r]);
              p[r] = fmaf(q[r][4 * e + 1], kk.y, p[r]);
              p[r] = fmaf(q[r][4 * e + 2], kk.z, p[r]);
              p[r] = fmaf(q[r][4 * e + 3], kk.w, p[r]);
            }
          }
#pragma unroll
          for (int r = 0; r < R; r++) {
#pragma unroll
            for (int o = 1; o < G; o <<= 1)
              p[r] += __shfl_xor_sync(0xffffffffu, p[r], o);
            sc[r][c] = p[r];
          }
        }
        float base[R];
#pragma unroll
        for (int r = 0; r < R; r++) {
          float cmax = -INFINITY;
#pragma unroll
          for (int c = 0; c < CHUNK; c++) {
            /* c0 + c < BK always; a key at or past nk is at or past
             * block_end >= kend, so it is masked here too. */
            const int64_t j = k0 + c0 + c;
            float v = sc[r][c];
            if (j >= kend[r])
              v = -INFINITY;
            else if (mp[r])
              v = fmaf(to_f32(mp[r][j]), LOG2E, v);
            sc[r][c] = v;
            cmax = fmaxf(cmax, v);
          }
          const float m_new = fmaxf(m[r], cmax);
          base[r] = attn_base(m_new);
          const float corr = exp2f(m[r] - base[r]); /* m = -inf: 0, and acc, l are 0 */
          l[r] *= corr;
#pragma unroll
          for (int e = 0; e < DT; e++)
            acc[r][e] *= corr;
          m[r] = m_new;
        }
#pragma unroll
        for (int c = 0; c < CHUNK; c++) {
          float p[R];
#pragma unroll
          for (int r = 0; r < R; r++) {
            p[r] = exp2f(sc[r][c] - base[r]);
            l[r] += p[r];
          }
          const float4 *vr = reinterpret_cast<const float4 *>(vs + (c0 + c) * DP);
#pragma unroll
          for (int e = 0; e < E; e++) {
            const float4 vv = vr[part + G * e]; /* one read for all R rows */
#pragma unroll
            for (int r = 0; r < R; r++) {
              acc[r][4 * e] = fmaf(p[r], vv.x, acc[r][4 * e]);
              acc[r][4 * e + 1] = fmaf(p[r], vv.y, acc[r][4 * e + 1]);
              acc[r][4 * e + 2] = fmaf(p[r], vv.z, acc[r][4 * e + 2]);
              acc[r][4 * e + 3] = fmaf(p[r], vv.w, acc[r][4 * e + 3]);
            }
          }
        }
      }
    }

#pragma unroll
    for (int r = 0; r < R; r++) {
      const int64_t i = q0 + slot + r * SPAN;
      if (i >= s.lq)
        continue;
      const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f; /* every key masked: zeros */
      T *op = (T *)a.out + ((s.q_start + i) * a.hq + h) * a.d;
#pragma unroll
      for (int e = 0; e < E; e++)
#pragma unroll
        for (int u = 0; u < 4; u++) {
          const int dim = 4 * (part + G * e) + u;
          if (dim < a.d)
            op[dim] = from_f32<T>(acc[r][4 * e + u] * inv);
        }
    }
  }
}

template <class T, int G, int DT, int R = 1, int THREADS = 128>
cudaError_t launch_general(const attn_args &a, cudaStream_t stream) {
  constexpr int ROWS = gen_shape<G, DT, R, THREADS>::ROWS;
  const int64_t tiles = (a.sq + ROWS - 1) / ROWS;
  /* At least one block, so the lengths are checked even with no queries. */
  const dim3 grid((unsigned)(tiles > 0 ? tiles : 1), (unsigned)a.hq,
                  (unsigned)(a.batch < 65535 ? a.batch : 65535));
  return launch(attn_general_kernel<T, G, DT, R, THREADS>, grid, dim3(THREADS), 0, stream, a);
}

/* Rows of up to 32 dims take two rows per thread (each shared-memory read
 * of K and V feeds both: 8 FMAs per read), 64 threads, so a block still
 * holds 128 rows; wider rows one row per thread (registers). */
template <class T> cudaError_t launch_general_for(const attn_args &a, cudaStream_t stream) {
  if (a.d <= 8)
    return launch_general<T, 1, 8, 2, 64>(a, stream);
  if (a.d <= 16)
    return launch_general<T, 1, 16, 2, 64>(a, stream);
  if (a.d <= 32)
    return launch_general<T, 1, 32, 2, 64>(a, stream);
  if (a.d <= 64)
    return launch_general<T, 1, 64>(a, stream);
  if (a.d <= 128)
    return launch_general<T, 2, 64>(a, stream);
  return launch_general<T, 4, 64>(a, stream); /* d <= 256 (validated) */
}

} // namespace

cudaError_t kiln_cuda_attention_general(const attn_args &a_in, kiln_dtype dtype,
                                        cudaStream_t stream) {
  if (a_in.d < 1 || a_in.d > 256 || a_in.hq > 65535 || a_in.sq / 8 > INT32_MAX)
    return cudaErrorInvalidConfiguration;
  /* K and V rows in aligned groups of 4 elements: whole 16-byte (f32) or
   * 8-byte (f16, bf16) loads. */
  attn_args a = a_in;
  const uintptr_t align = 4 * kiln_dtype_size(dtype);
  a.vec4 = a.d % 4 == 0 && a.k_row % 4 == 0 && a.v_row % 4 == 0 &&
           ((uintptr_t)a.k & (align - 1)) == 0 && ((uintptr_t)a.v & (align - 1)) == 0;
  return with_dtype(dtype, [&](auto t) { return launch_general_for<decltype(t)>(a, stream); });
}
