/*
 * The steps the tensor-core attention kernels share, one copy each. The
 * prefill kernels (cuda_attention_mma.cu for f16/bf16,
 * cuda_attention_mma_f32.cu for 3xTF32, cuda_attention_mma_f32h.cu for f16
 * pieces of f32) share their block's shape, launch and shape check, the
 * prologue and epilogue, the cp.async tile loads and the loop of S = Q K^T;
 * the decode kernel (cuda_attention_decode_mma.cu) shares the per-tile
 * scaling, masking and online softmax with them.
 *
 * These run in the kernels' hot loops: every helper is __forceinline__ and
 * takes the fragment arrays by reference, with their sizes as template
 * arguments, so that once inlined they are the same instructions, in the
 * same order, as the code each kernel had written out before: when they
 * were made, each kernel's PTX was compared (the same but for the names of
 * virtual registers) and ptxas -v's registers and spills (the same).
 *
 * Fragments (mma.sync, f32 accumulators; cuda_mma_ptx.cuh): a warp holds
 * 16 query rows; lane 4 gq + tq holds rows gq and gq + 8 (rr = 0, 1), and
 * accumulator e of an n-tile nt of scores is row gq + 8 (e / 2), key
 * 8 nt + 2 tq + (e & 1) of the tile; of O, d-tile dt, dim 8 dt + 2 tq +
 * (e & 1).
 */
#ifndef KILN_CUDA_ATTENTION_TILE_CUH
#define KILN_CUDA_ATTENTION_TILE_CUH

#include "cuda_attention.cuh"
#include "cuda_mma_ptx.cuh"

#include <type_traits>

namespace kiln_dev {

/* The prefill kernels' block: ATTN_WARPS warps of 16 query rows each. */
constexpr int ATTN_WARPS = 4;
constexpr int ATTN_THREADS = 32 * ATTN_WARPS;
constexpr int ATTN_BQ = 16 * ATTN_WARPS; /* query rows per block */

/* ROWS rows of D elements (E) from global (row r at base + r * stride)
 * into shared memory (row r at dst + r * RS), by the block's ATTN_THREADS
 * in 16-byte cp.async pieces; rows at or past valid become zeros (nothing
 * is read for them). */
template <int ROWS, int D, int RS, class E>
__device__ __forceinline__ void attn_load_tile(E *dst, const E *base, int64_t stride, int valid) {
  constexpr int W = 16 / sizeof(E), PIECES = D / W; /* elements per piece, pieces per row */
#pragma unroll
  for (int c = threadIdx.x; c < ROWS * PIECES; c += ATTN_THREADS) {
    const int row = c / PIECES, col = c % PIECES * W;
    const bool ok = row < valid;
    ptx::cp_async16(dst + row * RS + col, ok ? base + row * stride + col : base, ok);
  }
}

/* Accumulator fragments (N tiles of 4) to zero. */
template <int N> __device__ __forceinline__ void attn_zero(float (&x)[N][4]) {
#pragma unroll
  for (int n = 0; n < N; n++)
#pragma unroll
    for (int e = 0; e < 4; e++)
      x[n][e] = 0.0f;
}

/* A prefill block: ATTN_BQ query rows q0 .. of sequence b, query head h (kv
 * head g), 16 a warp, against tiles of BN keys; T the element type of q,
 * k, v, out and the mask. */
template <class T> struct attn_block {
  int b, h, g;
  attn_seq s;
  int64_t q0;
  int valid_q;           /* the block's rows inside the sequence */
  int64_t block_end;     /* the most keys any row sees (the last row's) */
  int64_t block_min_end; /* the least (the first row's): tiles below it need no
                            per-element masking unless there is a mask tensor */
  int n_tiles;           /* tiles of BN keys up to block_end */
  int warp, lane, gq, tq;
  T *out;          /* the block's first output row, head h */
  int64_t out_row; /* elements between output rows */
};

/* This thread's rows, gq and gq + 8 of its warp's 16: row i[rr] of the
 * sequence (a real one where ok[rr]) sees keys 0 .. kend[rr] - 1. Kept
 * apart from attn_block, and the mask rows apart from both: the compiler
 * takes a struct of scalars into registers at once, but keeps one with an
 * array indexed in a loop in memory until the loop is unrolled, and the
 * code it makes of the kernel then differs (with the arrays in attn_block,
 * 8 more registers at D 64 and more spills under the caps). */
struct attn_rows {
  int64_t i[2], kend[2];
  bool ok[2];
};

/* The block's start: checks the device-side lengths (every thread must
 * call it: it has barriers), fills bk and rows, and sets the running
 * state of this thread's rows (O zero, max m -inf, sum l 0). False when
 * the block has nothing to do: a bad length (nothing is written), or a
 * tile past its sequence's queries (varlen). */
template <int BN, class T, int DT>
__device__ __forceinline__ bool attn_block_begin(const attn_args &a, attn_block<T> &bk,
                                                 attn_rows &rows, float (&o)[DT][4],
                                                 float (&m)[2], float (&l)[2]) {
  if (!attn_lengths_ok(a))
    return false;
  bk.b = blockIdx.z, bk.h = blockIdx.y, bk.g = bk.h / a.group;
  bk.s = attn_sequence(a, bk.b);
  bk.q0 = (int64_t)blockIdx.x * ATTN_BQ;
  if (bk.q0 >= bk.s.lq)
    return false;
  bk.valid_q = (int)min((int64_t)ATTN_BQ, bk.s.lq - bk.q0);
  bk.block_end = attn_key_end(a, bk.s, bk.q0 + bk.valid_q - 1);
  bk.n_tiles = bk.block_end > 0 ? (int)((bk.block_end + BN - 1) / BN) : 0;
  bk.block_min_end = attn_key_end(a, bk.s, bk.q0);
  bk.warp = threadIdx.x / 32, bk.lane = threadIdx.x % 32;
  bk.gq = bk.lane / 4, bk.tq = bk.lane % 4;
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    rows.i[rr] = bk.q0 + bk.warp * 16 + bk.gq + 8 * rr;
    rows.ok[rr] = rows.i[rr] < bk.s.lq;
    rows.kend[rr] = attn_key_end(a, bk.s, rows.i[rr]);
  }
  /* Taken here, so that the pointer, not what it is made of, is what
   * stays live through the loop over the tiles (ptxas spills less so). */
  bk.out = (T *)a.out + (bk.s.q_start + bk.q0) * a.hq * a.d + (int64_t)bk.h * a.d;
  bk.out_row = (int64_t)a.hq * a.d;

  attn_zero(o);
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    m[rr] = -INFINITY;
    l[rr] = 0.0f;
  }
  return true;
}

/* Where the block's inputs start (D: the head dim): its first query row,
 * head h, and K and V at the sequence's first key, kv head g; and this
 * thread's rows of the mask tensor (nullptr where there is none or the
 * row is past the sequence). Only for a block with tiles to do. */
template <int D, class T>
__device__ __forceinline__ void attn_block_inputs(const attn_args &a, const attn_block<T> &bk,
                                                  const attn_rows &rows, const T *&qg,
                                                  const T *&kg, const T *&vg,
                                                  const T *(&mrow)[2]) {
  qg = (const T *)a.q + (bk.s.q_start + bk.q0) * a.q_row + (int64_t)bk.h * D;
  kg = (const T *)a.k + bk.s.k_start * a.k_row + (int64_t)bk.g * D;
  vg = (const T *)a.v + bk.s.k_start * a.v_row + (int64_t)bk.g * D;
  mrow[0] = mrow[1] = nullptr;
  if (a.mask)
#pragma unroll
    for (int rr = 0; rr < 2; rr++)
      if (rows.ok[rr])
        mrow[rr] = (const T *)a.mask + bk.b * a.mask_b + bk.h * a.mask_h + rows.i[rr] * a.mask_q;
}

/* S = Q K^T for one tile of 8 NT keys: sc zeroed, then step(sc[nt], nt,
 * kk) adds k-step group kk (0 .. KK - 1) of n-tile nt. */
template <int KK, int NT, class Step>
__device__ __forceinline__ void attn_tile_qk(float (&sc)[NT][4], Step step) {
#pragma unroll
  for (int nt = 0; nt < NT; nt++) {
#pragma unroll
    for (int e = 0; e < 4; e++)
      sc[nt][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < KK; kk++)
      step(sc[nt], nt, kk);
  }
}

/* attn_tile_qk on 16-bit operands (T): per 8 keys one ldmatrix.x4 of the
 * tile's K (kt: key rows SD elements apart in shared memory) covers 32
 * dims, two m16n8k16 k-steps against Q's A fragments qf. */
template <class T, int D, int SD, int NT>
__device__ __forceinline__ void attn_tile_qk16(float (&sc)[NT][4], const unsigned (&qf)[D / 16][4],
                                               const T *kt, int lane) {
  attn_tile_qk<D / 32>(sc, [&](float (&c)[4], int nt, int kk) {
    unsigned kb[4];
    ptx::ldmatrix_x4(kb, kt + (nt * 8 + lane % 8) * SD + 32 * kk + 8 * (lane / 8));
    ptx::mma16816<T>(c, qf[2 * kk], kb[0], kb[1]);
    ptx::mma16816<T>(c, qf[2 * kk + 1], kb[2], kb[3]);
  });
}

/* Score e of n-tile nt (row rr = e / 2, key jj of the tile) scaled,
 * masked and taken into the row's max: -inf at or past lim, the row's
 * keys in this tile; else plus the mask tensor's entry times log2(e). */
template <int NT, class M, class Scale>
__device__ __forceinline__ void attn_mask_score(float (&sc)[NT][4], float (&mx)[2], int nt, int e,
                                                int lim, int64_t k0, const M *const (&mrow)[2],
                                                int tq, Scale scale) {
  const int rr = e / 2, jj = nt * 8 + 2 * tq + (e & 1);
  float v = scale(rr, sc[nt][e]);
  if (jj >= lim)
    v = -INFINITY;
  else if (mrow[rr])
    v = fmaf(to_f32(mrow[rr][k0 + jj]), LOG2E, v);
  sc[nt][e] = v;
  mx[rr] = fmaxf(mx[rr], v);
}

/* One tile's scores into base 2 and masked, and their max per row (this
 * thread's part: mx). The tile is keys k0 .. k0 + 8 NT - 1; row rr sees
 * those below kend[rr] (the rest become -inf), plus the mask tensor's
 * row mrow[rr] (M: its element type) times log2(e). scale(rr, x): the raw
 * score x of row rr in base 2. The masking runs where there is a mask
 * tensor (mask: the op's) or the tile reaches past some row's last key
 * (edge); both are uniform over the block, so the branch never diverges.
 * Elsewhere scores are only scaled.
 * ROWS_OUTER: mask row 0's scores, then row 1's (the decode kernel),
 * rather than n-tile by n-tile (the prefill kernels). The results are the
 * same; the order changes only ptxas's register allocation, and each
 * kernel keeps the one it was tuned with (the other one costs the decode
 * kernel 22-23 more registers, and the prefill kernels more spills). */
template <bool ROWS_OUTER = false, int NT, class M, class Scale>
__device__ __forceinline__ void attn_tile_scores(float (&sc)[NT][4], float (&mx)[2],
                                                 const void *mask, bool edge, int64_t k0,
                                                 const int64_t (&kend)[2],
                                                 const M *const (&mrow)[2], int tq, Scale scale) {
  constexpr int BN = 8 * NT;
  mx[0] = mx[1] = -INFINITY;
  if (mask || edge) {
    int lim[2]; /* keys of this tile the row sees: 0 .. lim - 1 */
    if constexpr (ROWS_OUTER) {
#pragma unroll
      for (int rr = 0; rr < 2; rr++) {
        lim[rr] = (int)max(min(kend[rr] - k0, (int64_t)BN), (int64_t)0);
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
          for (int e = 2 * rr; e < 2 * rr + 2; e++)
            attn_mask_score(sc, mx, nt, e, lim[rr], k0, mrow, tq, scale);
      }
    } else {
#pragma unroll
      for (int rr = 0; rr < 2; rr++)
        lim[rr] = (int)max(min(kend[rr] - k0, (int64_t)BN), (int64_t)0);
#pragma unroll
      for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++)
          attn_mask_score(sc, mx, nt, e, lim[e / 2], k0, mrow, tq, scale);
    }
  } else {
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        sc[nt][e] = scale(e / 2, sc[nt][e]);
        mx[e / 2] = fmaxf(mx[e / 2], sc[nt][e]);
      }
  }
}

/* The online softmax's step for one tile: the rows' new max (mx over the
 * quad of 4 lanes that share a row, and m), O and l rescaled to it, and
 * sc turned into p = exp2(s - max) in place, l summing this thread's part
 * (the quad's are summed at the end).
 * PIECES: the f16-piece f32 kernel's form (cuda_attention_mma_f32h.cu):
 * O's correction also carries vcorr (its V tiles' exponent change), and p
 * is 2^14 exp2(s - max), inside f16's range (l too, so it cancels). */
template <bool PIECES = false, int NT, int DT>
__device__ __forceinline__ void attn_tile_softmax(float (&sc)[NT][4], float (&mx)[2],
                                                  float (&m)[2], float (&l)[2],
                                                  float (&o)[DT][4], float vcorr = 1.0f) {
  float base[2]; /* what exp2's argument is taken from: the max, less 14 with PIECES */
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    mx[rr] = fmaxf(mx[rr], __shfl_xor_sync(0xffffffffu, mx[rr], 1));
    mx[rr] = fmaxf(mx[rr], __shfl_xor_sync(0xffffffffu, mx[rr], 2));
    const float m_new = fmaxf(m[rr], mx[rr]);
    const float bm = attn_base(m_new);
    const float corr = attn_exp2(m[rr] - bm); /* m = -inf: 0; o and l are 0 then */
    l[rr] *= corr;
    float ocorr = corr;
    if constexpr (PIECES)
      ocorr = corr * vcorr;
#pragma unroll
    for (int dt = 0; dt < DT; dt++) {
      o[dt][2 * rr] *= ocorr;
      o[dt][2 * rr + 1] *= ocorr;
    }
    m[rr] = m_new;
    base[rr] = PIECES ? bm - 14.0f : bm;
  }
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int e = 0; e < 4; e++) {
      const float p = attn_exp2(sc[nt][e] - base[e / 2]);
      l[e / 2] += p;
      sc[nt][e] = p;
    }
}

/* The prefill kernels' end: each row's O divided by its sum (the quad's
 * parts of l added; oscale / sum, zeros where every key was masked) and
 * stored as T, in pairs of columns. */
template <class T, int DT>
__device__ __forceinline__ void attn_block_store(const attn_block<T> &bk, const attn_rows &rows,
                                                 const float (&o)[DT][4], const float (&l)[2],
                                                 float oscale = 1.0f) {
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    float sum = l[rr];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const float inv = sum > 0.0f ? oscale / sum : 0.0f;
    if (!rows.ok[rr])
      continue;
    T *orow = bk.out + (bk.warp * 16 + bk.gq + 8 * rr) * bk.out_row;
#pragma unroll
    for (int dt = 0; dt < DT; dt++) {
      const float x = o[dt][2 * rr] * inv, y = o[dt][2 * rr + 1] * inv;
      if constexpr (std::is_same<T, float>::value)
        *reinterpret_cast<float2 *>(orow + 8 * dt + 2 * bk.tq) = make_float2(x, y);
      else
        *reinterpret_cast<unsigned *>(orow + 8 * dt + 2 * bk.tq) = ptx::pack2<T>(x, y);
    }
  }
}

/* Launches a prefill kernel: a block of ATTN_THREADS per ATTN_BQ query
 * rows, query head and sequence, with smem bytes of dynamic shared memory.
 * Above 48 KiB a kernel must ask for its shared memory; the attribute is
 * per device, so it is set on every launch (as cuda_rows.cuh does). */
static inline cudaError_t attn_launch_prefill(void (*kernel)(attn_args), const attn_args &a,
                                              size_t smem, cudaStream_t stream) {
  if (smem > 48 * 1024) {
    const cudaError_t err =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (err != cudaSuccess)
      return err;
  }
  const int64_t tiles = (a.sq + ATTN_BQ - 1) / ATTN_BQ;
  const dim3 grid((unsigned)(tiles > 0 ? tiles : 1), (unsigned)a.hq, (unsigned)a.batch);
  return launch(kernel, grid, dim3(ATTN_THREADS), smem, stream, a);
}

/* Whether a prefill kernel takes the op's shape (its dtype is the
 * caller's to check): d 32, 64 or 128; 16-byte cp.async pieces, so rows
 * of q, k and v a multiple of piece elements apart and the pointers
 * 16-byte aligned (head starts are, D being a multiple of 32); out, stored
 * in pairs, aligned to out_align bytes; and attn_launch_prefill's grid
 * holds it. */
static inline bool attn_prefill_fits(const attn_args &a, int piece, uintptr_t out_align) {
  if (a.d != 32 && a.d != 64 && a.d != 128)
    return false;
  if (a.q_row % piece || a.k_row % piece || a.v_row % piece || !aligned16(a.q) ||
      !aligned16(a.k) || !aligned16(a.v) || ((uintptr_t)a.out & (out_align - 1)))
    return false;
  return a.batch <= 65535 && a.hq <= 65535 && a.sq / ATTN_BQ < INT32_MAX;
}

} // namespace kiln_dev

#endif /* KILN_CUDA_ATTENTION_TILE_CUH */
