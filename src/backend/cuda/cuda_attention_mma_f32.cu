/*
 * Tensor-core attention for f32, D = 32, 64 or 128, at f32's accuracy:
 * every product on the tensor cores is 3xTF32 (cuda_mma_ptx.cuh): each
 * operand x split into TF32 pieces hi + lo, and a b taken as a_lo b_hi +
 * a_hi b_lo + a_hi b_hi on mma.sync m16n8k8 with f32 accumulators, which
 * leaves each product within about 3 * 2^-22 of exact (plain TF32 would
 * be 2^-11 off). The shape follows cuda_attention_mma.cu: a block of
 * ATTN_WARPS warps takes ATTN_BQ = 16 * ATTN_WARPS query rows of one (sequence,
 * head), each warp 16; tiles of BN keys and values stream through shared
 * memory; S = Q K^T, the online softmax in f32 and base 2, O += P V.
 *
 * What differs from the 16-bit kernel, and why:
 * - The split is done once per element of a tile, by the whole block,
 *   into shared memory (kx, vx), not by each of the four warps that read
 *   the tile: a tile lands raw (cp.async), the block splits it, then the
 *   warps multiply. The raw buffer is free again once split, so the next
 *   tile's copy is issued then and lands while this tile is multiplied.
 * - The operands' k index is permuted within each 8-wide k-step: logical
 *   k = t holds element 2t and k = t + 4 holds element 2t + 1. A sum over
 *   k does not care, and then each thread's two B elements (k t and
 *   t + 4) are adjacent in memory, and so are its two A elements in a
 *   row. So hi and lo of both fit one 16-byte read: kx and vx hold, per
 *   row and pair of columns (2p, 2p + 1), {hi 2p, hi 2p+1, lo 2p, lo 2p+1}.
 *   For P V the k index is the key, and S's accumulators c0, c1 (row g,
 *   keys 2t, 2t + 1) are then exactly a0 and a2 of P's A fragment (c2,
 *   c3: a1, a3), so P never leaves registers.
 * - vx holds V transposed (row = dim, pairs of keys along the row): B of
 *   P V wants (key, dim g) in lane g's row, which ldmatrix.trans cannot
 *   give for 32-bit elements; the block's split pass transposes instead.
 * - Q is scaled by scale * log2(e) before its split (as the general
 *   kernel does), so scores come out of the tensor cores in base 2.
 * Row strides: kx 2D + 16 and vx 2BN + 16 words, so the 8 lanes of a
 * quarter warp (two rows, four 16-byte pieces each) hit 32 distinct banks;
 * raw rows are D + 4 words (16-byte pieces for cp.async); f32_shape has
 * the strides of SPLIT_WARP, the variant that splits in each warp.
 */
#include "cuda_attention_tile.cuh"

using namespace kiln_dev;
using namespace kiln_dev::ptx;

namespace {

constexpr int BN = 32; /* keys per tile */

/* Where K's and V's split happens:
 *   SPLIT_BLOCK once per element, by the block, into kx and vx as above;
 *   SPLIT_WARP  by each warp as it reads raw f32 (as the B pieces of a
 *               k-step, the same {hi, hi, lo, lo} values): four times the
 *               conversions, but under half the shared-memory traffic, no
 *               split pass, and the raw tiles two stages deep as in the
 *               16-bit kernel.
 * Measured on the H200 (2026-12-01, attention_gpu_bench, TFLOP/s block /
 * warp): D 64 B8 H32 S2048 42.7 / 37.5, causal 39.9 / 35.1, B32 S512 41.5
 * / 36.7, MiniLM varlen (D 32) 70.4 / 73.6 us; D 128 B8 H16 S2048 27.8 /
 * 35.0, causal 25.5 / 32.1. The f16-piece variant
 * (cuda_attention_mma_f32h.cu: half the tensor instructions) then beat
 * both on every shape (71.8 TFLOP/s at D 64 S2048, 72.6 at D 128, MiniLM
 * 55 us), so it is the default; KILN_CUDA_F32_MMA_SPLIT=block|warp runs these two
 * instead, for measuring and as the plainer reference of the method. */
enum split_mode { SPLIT_BLOCK, SPLIT_WARP };

template <int D, int MODE> struct f32_shape {
  /* Raw row strides, floats. SPLIT_WARP reads K in 8-byte pairs (16
   * lanes: 4 rows x 8 words, rows 8 mod 32 words apart) and V a word per
   * lane (rows 2 tq and 2 tq + 1 over 8 dims: rows 4 mod 32 apart). */
  static constexpr int RSK = MODE == SPLIT_BLOCK ? D + 4 : D + 8;
  static constexpr int RSV = D + 4;
  static constexpr int KXS = 2 * D + 16;  /* kx row (one key) stride, words */
  static constexpr int VXS = 2 * BN + 16; /* vx row (one dim) stride, words */
  static constexpr int RAW_K = BN * RSK, RAW_V = BN * RSV, KX = BN * KXS, VX = D * VXS;
  static constexpr int STAGES = MODE == SPLIT_BLOCK ? 1 : 2;
  /* Raw K stages, raw V stages, then (SPLIT_BLOCK) kx and vx. */
  static constexpr size_t SMEM =
      (size_t)(STAGES * (RAW_K + RAW_V) + (MODE == SPLIT_BLOCK ? KX + VX : 0)) * 4;
  static_assert(D % 32 == 0 && D <= 128, "D of 32, 64 or 128");
  static_assert(KXS % 32 == 16 && VXS % 32 == 16, "two rows of a quarter warp in distinct banks");
  static_assert(MODE == SPLIT_BLOCK || (RSK % 32 == 8 && RSV % 32 == 4), "no bank conflicts");
};

/* The block's split pass: raw K and V into kx and vx (V transposed). */
template <int D>
__device__ __forceinline__ void split_tile(const float *kraw, const float *vraw, float *kx,
                                           float *vx) {
  using S = f32_shape<D, SPLIT_BLOCK>;
  /* K: item (key j, dim pair p), p fastest over the lanes: 8-byte reads and
   * 16-byte writes, each run of lanes contiguous in one row. */
  constexpr int KP = D / 2, K_TURNS = BN * KP / ATTN_THREADS;
  static_assert(BN * KP % ATTN_THREADS == 0, "whole turns");
#pragma unroll
  for (int it = 0; it < K_TURNS; it++) {
    const int e = threadIdx.x + it * ATTN_THREADS;
    const int j = e / KP, p = e % KP;
    const float2 x = *reinterpret_cast<const float2 *>(kraw + j * S::RSK + 2 * p);
    uint4 w;
    split_tf32(x.x, w.x, w.z);
    split_tf32(x.y, w.y, w.w);
    *reinterpret_cast<uint4 *>(kx + j * S::KXS + 4 * p) = w;
  }
  /* V: item (key pair m, dims 4c .. 4c + 3), m fastest: two 16-byte reads
   * (rows 2m and 2m + 1; a 2-way bank conflict, rows 2m being 2 RSV = 8
   * mod 32 words apart) and four 16-byte writes, one per dim, contiguous
   * over the lanes. */
  constexpr int VP = BN / 2, V_TURNS = VP * (D / 4) / ATTN_THREADS;
  static_assert(VP * (D / 4) % ATTN_THREADS == 0, "whole turns");
#pragma unroll
  for (int it = 0; it < V_TURNS; it++) {
    const int e = threadIdx.x + it * ATTN_THREADS;
    const int m = e % VP, c = e / VP;
    const float4 x0 = *reinterpret_cast<const float4 *>(vraw + 2 * m * S::RSV + 4 * c);
    const float4 x1 = *reinterpret_cast<const float4 *>(vraw + (2 * m + 1) * S::RSV + 4 * c);
    const float a0[4] = {x0.x, x0.y, x0.z, x0.w}, a1[4] = {x1.x, x1.y, x1.z, x1.w};
#pragma unroll
    for (int u = 0; u < 4; u++) {
      uint4 w;
      split_tf32(a0[u], w.x, w.z);
      split_tf32(a1[u], w.y, w.w);
      *reinterpret_cast<uint4 *>(vx + (4 * c + u) * S::VXS + 4 * m) = w;
    }
  }
}

/* B of S = Q K^T for n-tile nt, k-step ks: key 8 nt + gq, dims 8 ks +
 * 2 tq and + 1, as {hi, hi, lo, lo}; kt is kx (SPLIT_BLOCK) or the raw
 * tile. */
template <int D, int MODE>
__device__ __forceinline__ uint4 k_frag(const float *kt, int nt, int ks, int gq, int tq) {
  using S = f32_shape<D, MODE>;
  if constexpr (MODE == SPLIT_BLOCK) {
    return *reinterpret_cast<const uint4 *>(kt + (8 * nt + gq) * S::KXS + 4 * (4 * ks + tq));
  } else {
    const float2 x = *reinterpret_cast<const float2 *>(kt + (8 * nt + gq) * S::RSK + 8 * ks + 2 * tq);
    uint4 w;
    split_tf32(x.x, w.x, w.z);
    split_tf32(x.y, w.y, w.w);
    return w;
  }
}

/* B of O += P V for k-step kc, d-tile dt: dim 8 dt + gq, keys 8 kc + 2 tq
 * and + 1, as {hi, hi, lo, lo}; vt is vx (SPLIT_BLOCK) or the raw tile. */
template <int D, int MODE>
__device__ __forceinline__ uint4 v_frag(const float *vt, int kc, int dt, int gq, int tq) {
  using S = f32_shape<D, MODE>;
  if constexpr (MODE == SPLIT_BLOCK) {
    return *reinterpret_cast<const uint4 *>(vt + (8 * dt + gq) * S::VXS + 4 * (4 * kc + tq));
  } else {
    const float *p = vt + (8 * kc + 2 * tq) * S::RSV + 8 * dt + gq;
    uint4 w;
    split_tf32(p[0], w.x, w.z);
    split_tf32(p[S::RSV], w.y, w.w);
    return w;
  }
}

/* MINB: resident blocks per SM asked of the compiler (a register cap). */
template <int D, int MODE, int MINB>
__global__ void __launch_bounds__(ATTN_THREADS, MINB) attn_mma_f32_kernel(attn_args a) {
  KILN_KERNEL_BEGIN();
  using S = f32_shape<D, MODE>;
  constexpr int NT = BN / 8, KS = D / 8, DT = D / 8;
  extern __shared__ __align__(16) float smem_f32[];
  /* Raw K stage s at kraw + s * RAW_K, raw V at vraw + s * RAW_V. */
  float *kraw = smem_f32, *vraw = kraw + S::STAGES * S::RAW_K;
  float *kx = vraw + S::STAGES * S::RAW_V, *vx = kx + S::KX; /* SPLIT_BLOCK only */

  attn_block<float> bk;
  attn_rows rows;
  float o[DT][4], m[2], l[2];
  if (!attn_block_begin<BN>(a, bk, rows, o, m, l))
    return;
  const int warp = bk.warp, gq = bk.gq, tq = bk.tq;

  if (bk.n_tiles > 0) {
    const float *qg, *kg, *vg, *mrow[2];
    attn_block_inputs<D>(a, bk, rows, qg, kg, vg, mrow);

    attn_load_tile<BN, D, S::RSK>(kraw, kg, a.k_row, (int)min((int64_t)BN, bk.block_end));
    attn_load_tile<BN, D, S::RSV>(vraw, vg, a.v_row, (int)min((int64_t)BN, bk.block_end));
    cp_async_commit();

    /* Q's A fragments, read once from global while tile 0 is in flight,
     * scaled to base 2 and split: k-step ks covers dims 8 ks .. 8 ks + 7,
     * a0 / a1 (rows gq, gq + 8) hold dim 8 ks + 2 tq, a2 / a3 the next. */
    unsigned qh[KS][4], ql[KS][4];
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
      const float *qrow = qg + (int64_t)(warp * 16 + gq + 8 * rr) * a.q_row;
#pragma unroll
      for (int ks = 0; ks < KS; ks++) {
        float2 x = make_float2(0.0f, 0.0f);
        if (rows.ok[rr])
          x = __ldg(reinterpret_cast<const float2 *>(qrow + 8 * ks + 2 * tq));
        split_tf32(x.x * a.scale_log2, qh[ks][rr], ql[ks][rr]);
        split_tf32(x.y * a.scale_log2, qh[ks][2 + rr], ql[ks][2 + rr]);
      }
    }

    for (int t = 0; t < bk.n_tiles; t++) {
      const int64_t k0 = (int64_t)t * BN, k1 = k0 + BN;
      const int nv = (int)min((int64_t)BN, bk.block_end - k1); /* the next tile's keys */
      const float *kt, *vt;
      if constexpr (MODE == SPLIT_BLOCK) {
        cp_async_wait<0>();
        __syncthreads(); /* tile t landed for every thread; kx, vx no longer read */
        split_tile<D>(kraw, vraw, kx, vx);
        __syncthreads(); /* kx, vx written; raw free */
        if (t + 1 < bk.n_tiles) {
          attn_load_tile<BN, D, S::RSK>(kraw, kg + k1 * a.k_row, a.k_row, nv);
          attn_load_tile<BN, D, S::RSV>(vraw, vg + k1 * a.v_row, a.v_row, nv);
          cp_async_commit();
        }
        kt = kx, vt = vx;
      } else {
        /* Groups in commit order: tile 0, then one per turn (tile t + 1,
         * or empty), so wait_group 1 at turn t leaves only t + 1 in
         * flight. */
        const int stage = t & 1;
        if (t + 1 < bk.n_tiles) {
          attn_load_tile<BN, D, S::RSK>(kraw + (stage ^ 1) * S::RAW_K, kg + k1 * a.k_row, a.k_row,
                                        nv);
          attn_load_tile<BN, D, S::RSV>(vraw + (stage ^ 1) * S::RAW_V, vg + k1 * a.v_row, a.v_row,
                                        nv);
        }
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads(); /* tile t landed for every thread */
        kt = kraw + stage * S::RAW_K, vt = vraw + stage * S::RAW_V;
      }

      /* S = Q K^T. */
      float sc[NT][4];
      attn_zero(sc);
#pragma unroll
      for (int ks = 0; ks < KS; ks++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
          mma1688_tf32x3(sc[nt], qh[ks], ql[ks], k_frag<D, MODE>(kt, nt, ks, gq, tq));

      /* Mask, and the online softmax of this thread's two rows; sc[nt][e]
       * is row gq + 8 (e / 2), key k0 + 8 nt + 2 tq + (e & 1). */
      float mx[2];
      attn_tile_scores(sc, mx, a.mask, k0 + BN > bk.block_min_end, k0, rows.kend, mrow, tq,
                       [](int, float x) { return x; });
      attn_tile_softmax(sc, mx, m, l, o);

      /* O += P V, 8 keys (n-tile kc of S) per k-step: a0 = (row gq, key
       * 2 tq) = sc[kc][0], a1 = (gq + 8, 2 tq) = sc[kc][2], a2 = (gq,
       * 2 tq + 1) = sc[kc][1], a3 = sc[kc][3]. */
#pragma unroll
      for (int kc = 0; kc < NT; kc++) {
        unsigned ph[4], pl[4];
        split_tf32(sc[kc][0], ph[0], pl[0]);
        split_tf32(sc[kc][2], ph[1], pl[1]);
        split_tf32(sc[kc][1], ph[2], pl[2]);
        split_tf32(sc[kc][3], ph[3], pl[3]);
#pragma unroll
        for (int dt = 0; dt < DT; dt++)
          mma1688_tf32x3(o[dt], ph, pl, v_frag<D, MODE>(vt, kc, dt, gq, tq));
      }
      if constexpr (MODE == SPLIT_WARP)
        __syncthreads(); /* the stage is free for tile t + 2 */
    }
  }

  attn_block_store(bk, rows, o, l);
}

/* Resident blocks per SM asked of ptxas (a register cap), by head dim;
 * first guesses, not measured. Q's pieces alone take D registers per
 * thread and uncapped ptxas keeps a whole k-loop of shared reads in
 * flight (234 registers at D = 64). CUDA 13, sm_90, SPLIT_BLOCK: D = 32
 * at 4 blocks takes 128 registers (36 bytes spilled), D = 64 at 3 takes
 * 168 (16 spilled; its 56 KiB of shared memory a block allow 3 too),
 * D = 128 at 2 takes 255 (156 spilled; 2 x 110 KiB fit). */
template <int D> constexpr int F32_MIN_BLOCKS = D == 32 ? 4 : D == 64 ? 3 : 2;

template <int D, int MODE> cudaError_t launch_mma_f32(const attn_args &a, cudaStream_t stream) {
  constexpr size_t smem = f32_shape<D, MODE>::SMEM;
  return attn_launch_prefill(attn_mma_f32_kernel<D, MODE, F32_MIN_BLOCKS<D>>, a, smem, stream);
}

template <int MODE> cudaError_t launch_mma_f32_for(const attn_args &a, cudaStream_t stream) {
  switch (a.d) {
  case 32: return launch_mma_f32<32, MODE>(a, stream);
  case 64: return launch_mma_f32<64, MODE>(a, stream);
  default: return launch_mma_f32<128, MODE>(a, stream);
  }
}

} // namespace

bool kiln_cuda_attention_mma_f32_fits(const attn_args &a, kiln_dtype dtype) {
  /* Rows at multiples of 4 floats (16 bytes: cp.async pieces of K and V,
   * and Q read in pairs); out in pairs of floats. Both f32 kernels. */
  return dtype == KILN_F32 && attn_prefill_fits(a, 4, 8);
}

cudaError_t kiln_cuda_attention_mma_f32(const attn_args &a, cudaStream_t stream) {
  /* f16 pieces unless a TF32 split is asked for (measured: split_mode). */
  switch (kiln_cuda_env_f32_mma_split()) {
  case 1: return launch_mma_f32_for<SPLIT_BLOCK>(a, stream);
  case 2: return launch_mma_f32_for<SPLIT_WARP>(a, stream);
  default: return kiln_cuda_attention_mma_f32h(a, stream);
  }
}
