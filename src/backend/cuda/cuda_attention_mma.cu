/*
 * Tensor-core attention for f16 and bf16, D = 32, 64 or 128, in the manner
 * of FlashAttention-2: a block of ATTN_WARPS warps takes ATTN_BQ = 16 * ATTN_WARPS
 * query rows of one (sequence, head), each warp 16 of them; key and value
 * tiles of BN rows stream through shared memory, two stages deep (cp.async:
 * tile t + 1 is in flight while tile t is used). Per tile and warp:
 *   S = Q K^T   mma.sync m16n8k16, Q's fragments held in registers for the
 *               whole block, K's read with ldmatrix;
 *   softmax     online, in f32, rows' max and sum over the 4 threads that
 *               share a row (quad shuffles), in base 2;
 *   O += P V    P converted in registers into the A operand (no trip
 *               through shared memory), V read with ldmatrix.trans.
 * Tiles past the causal diagonal of the block's last row are never loaded.
 * Shared rows are padded by 16 bytes, so the 8 row addresses of an
 * ldmatrix fall in 8 different bank groups.
 * The PTX wrappers and the m16n8k16 fragment layouts are in
 * cuda_mma_ptx.cuh, shared with the decode kernel; the block's shape,
 * launch, setup and store, the tile loads, S = Q K^T, the scaling and
 * masking of a tile and the online softmax are in cuda_attention_tile.cuh,
 * shared with the f32 and decode kernels.
 */
#include "cuda_attention_tile.cuh"

#include <type_traits>

using namespace kiln_dev;
using namespace kiln_dev::ptx;

namespace {

constexpr int BN = 64; /* keys per tile */

template <int D> struct mma_shape {
  static constexpr int SD = D + 8; /* shared row stride in elements: 16 bytes of padding */
  static constexpr int Q_ELEMS = ATTN_BQ * SD, KV_ELEMS = BN * SD;
  /* Q, then K stage 0 and 1, then V stage 0 and 1. */
  static constexpr size_t SMEM = (size_t)(Q_ELEMS + 4 * KV_ELEMS) * 2;
  static_assert(D % 32 == 0 && D <= 128, "D of 32, 64 or 128");
};

/* MINB: resident blocks per SM asked of the compiler (a register cap). */
template <class T, int D, int MINB>
__global__ void __launch_bounds__(ATTN_THREADS, MINB) attn_mma_kernel(attn_args a) {
  KILN_KERNEL_BEGIN();
  using S = mma_shape<D>;
  constexpr int SD = S::SD, NT = BN / 8, KS = D / 16, DT = D / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T *qs = reinterpret_cast<T *>(smem_raw);
  T *ks = qs + S::Q_ELEMS; /* stage s at ks + s * KV_ELEMS */
  T *vs = ks + 2 * S::KV_ELEMS;

  attn_block<T> bk;
  attn_rows rows;
  float o[DT][4], m[2], l[2];
  if (!attn_block_begin<BN>(a, bk, rows, o, m, l))
    return;
  const int warp = bk.warp, lane = bk.lane;

  if (bk.n_tiles > 0) {
    const T *qg, *kg, *vg, *mrow[2];
    attn_block_inputs<D>(a, bk, rows, qg, kg, vg, mrow);

    /* Groups in commit order: Q, tile 0, then one per loop turn (tile
     * t + 1, or empty), so wait_group 1 at turn t leaves only tile t + 1
     * in flight. */
    attn_load_tile<ATTN_BQ, D, SD>(qs, qg, a.q_row, bk.valid_q);
    cp_async_commit();
    attn_load_tile<BN, D, SD>(ks, kg, a.k_row, (int)min((int64_t)BN, bk.block_end));
    attn_load_tile<BN, D, SD>(vs, vg, a.v_row, (int)min((int64_t)BN, bk.block_end));
    cp_async_commit();
    cp_async_wait<1>(); /* Q landed (tile 0 may be in flight) */
    __syncthreads();
    unsigned qf[KS][4];
#pragma unroll
    for (int kk = 0; kk < KS; kk++) {
      const int mi = lane / 8; /* ldmatrix: lanes 8 mi .. 8 mi + 7 address matrix mi */
      ldmatrix_x4(qf[kk],
                  qs + (warp * 16 + lane % 8 + 8 * (mi & 1)) * SD + 16 * kk + 8 * (mi >> 1));
    }

    for (int t = 0; t < bk.n_tiles; t++) {
      const int stage = t & 1;
      const int64_t k0 = (int64_t)t * BN;
      if (t + 1 < bk.n_tiles) {
        const int64_t k1 = k0 + BN;
        const int nv = (int)min((int64_t)BN, bk.block_end - k1);
        attn_load_tile<BN, D, SD>(ks + (stage ^ 1) * S::KV_ELEMS, kg + k1 * a.k_row, a.k_row, nv);
        attn_load_tile<BN, D, SD>(vs + (stage ^ 1) * S::KV_ELEMS, vg + k1 * a.v_row, a.v_row, nv);
      }
      cp_async_commit(); /* maybe empty: keeps one group per tile */
      cp_async_wait<1>(); /* everything but tile t + 1: tile t landed */
      __syncthreads();
      const T *kt = ks + stage * S::KV_ELEMS;
      const T *vt = vs + stage * S::KV_ELEMS;

      /* S = Q K^T. */
      float sc[NT][4];
      attn_tile_qk16<T, D, SD>(sc, qf, kt, lane);

      /* Scale, mask, and the online softmax of this thread's two rows. */
      float mx[2];
      attn_tile_scores(sc, mx, a.mask, k0 + BN > bk.block_min_end, k0, rows.kend, mrow, bk.tq,
                       [&](int, float x) { return x * a.scale_log2; });
      attn_tile_softmax(sc, mx, m, l, o);

      /* O += P V, 16 keys per k-step: P's accumulators of n-tiles 2kc and
       * 2kc + 1 are exactly the A fragment. */
#pragma unroll
      for (int kc = 0; kc < BN / 16; kc++) {
        const unsigned pa[4] = {pack2<T>(sc[2 * kc][0], sc[2 * kc][1]),
                                pack2<T>(sc[2 * kc][2], sc[2 * kc][3]),
                                pack2<T>(sc[2 * kc + 1][0], sc[2 * kc + 1][1]),
                                pack2<T>(sc[2 * kc + 1][2], sc[2 * kc + 1][3])};
#pragma unroll
        for (int dp = 0; dp < D / 16; dp++) {
          unsigned vb[4];
          ldmatrix_x4_trans(vb, vt + (16 * kc + lane % 8 + 8 * ((lane / 8) & 1)) * SD + 16 * dp +
                                    8 * (lane / 16));
          mma16816<T>(o[2 * dp], pa, vb[0], vb[1]);
          mma16816<T>(o[2 * dp + 1], pa, vb[2], vb[3]);
        }
      }
      __syncthreads(); /* stage is free for tile t + 2 */
    }
  }

  attn_block_store(bk, rows, o, l);
}

template <class T, int D, int MINB>
cudaError_t launch_mma_blocks(const attn_args &a, cudaStream_t stream) {
  return attn_launch_prefill(attn_mma_kernel<T, D, MINB>, a, mma_shape<D>::SMEM, stream);
}

/* Resident blocks per SM asked of ptxas (a register cap), by head dim.
 * Uncapped, ptxas takes 138 registers at D = 32 (3 blocks of 4 warps per
 * SM), 168 at 64 and 240 at 128. The MiniLM shape (128 sequences of
 * 16-128 tokens, D = 32: 3072 short-lived blocks) is latency-bound and the
 * large shapes want more warps to hide their loads, so more resident
 * blocks pay for a few spilled bytes. H200, 2026-12-01, two runs:
 *   D = 32, MiniLM varlen f16: uncapped 36.4 us; 4 blocks (128 registers,
 *     32 bytes spilled) 33.5; 5 (96, 40 spilled) 31.1-31.3; 6 32.3.
 *   D = 64, bf16 S = 512-8192: uncapped 169-194 TFLOP/s; 4 blocks (128,
 *     60 spilled) 146-216, +13% on every shape; 5 blocks 6-8% below 4.
 *   D = 128: 3 blocks (168 registers, 200 bytes spilled) lost 12-15%
 *     against uncapped (2 blocks, 207-242 TFLOP/s).
 * KILN_CUDA_MMA_BLOCKS=1 gives the uncapped kernel back, =4 the other cap
 * at D = 32, for measuring. */
template <int D> constexpr int MMA_DEFAULT_BLOCKS = D == 32 ? 5 : D == 64 ? 4 : 1;

template <class T, int D> cudaError_t launch_mma(const attn_args &a, cudaStream_t stream) {
  const int env = kiln_cuda_env_mma_blocks();
  const int want = env > 0 ? env : MMA_DEFAULT_BLOCKS<D>;
  if constexpr (D == 32) {
    if (want == 5)
      return launch_mma_blocks<T, D, 5>(a, stream);
    if (want == 4)
      return launch_mma_blocks<T, D, 4>(a, stream);
  }
  if constexpr (D == 64) {
    if (want == 4)
      return launch_mma_blocks<T, D, 4>(a, stream);
  }
  return launch_mma_blocks<T, D, 1>(a, stream);
}

template <class T> cudaError_t launch_mma_for(const attn_args &a, cudaStream_t stream) {
  switch (a.d) {
  case 32: return launch_mma<T, 32>(a, stream);
  case 64: return launch_mma<T, 64>(a, stream);
  default: return launch_mma<T, 128>(a, stream);
  }
}

} // namespace

bool kiln_cuda_attention_mma_fits(const attn_args &a, kiln_dtype dtype) {
  /* Rows at multiples of 8 elements (16 bytes); out in pairs of 2 bytes. */
  return (dtype == KILN_F16 || dtype == KILN_BF16) && attn_prefill_fits(a, 8, 4);
}

cudaError_t kiln_cuda_attention_mma(const attn_args &a, kiln_dtype dtype, cudaStream_t stream) {
  if (dtype == KILN_F16)
    return launch_mma_for<__half>(a, stream);
  return launch_mma_for<__nv_bfloat16>(a, stream);
}
