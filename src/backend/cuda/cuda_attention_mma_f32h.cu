/*
 * f32 attention on the tensor cores with f16 pieces: the 3-product split
 * of cuda_attention_mma_f32.cu (x = hi + lo, a b = a_lo b_hi + a_hi b_lo +
 * a_hi b_hi), but with hi and lo in f16 on mma.sync m16n8k16, which does
 * twice TF32's work per instruction. f16 has TF32's 11-bit significand, so
 * the pieces carry the same 22 bits; what it lacks is range (normal from
 * 2^-14 to 65504), which powers of two give back, exactly:
 * - each query row is scaled so its largest |q| lies in [2^13, 2^14);
 * - each tile of K and of V is scaled so its largest |x| lies there too
 *   (the block's maximum over the tile, one reduction per tile);
 * - P is taken as 2^14 exp2(s - max) (l too, so the factor cancels).
 * Scores come out as S_acc 2^(eq + ek - 28) (eq, ek: the frexp exponents
 * of the row's and the tile's largest |x|). V tiles share one running
 * exponent E (the largest so far), as the softmax shares its running max:
 * when E grows, O is rescaled with the softmax's correction, and
 * out = O 2^(E - 14) / l.
 *
 * The accuracy argument. Scaling by a power of two is exact (exponents
 * are clamped at E_MIN, so no factor overflows; a scaled element lost to
 * f32 underflow is below 2^-140 of its row's largest). A scaled x' has
 * |x'| < 2^14, and the largest of its row or tile is at least 2^13.
 * hi = f16(x') is within 2^-11 |x'| (or 2^-25 where x' is below f16's
 * normal range), x' - hi is exact in f32, and lo = f16(x' - hi) is within
 * 2^-11 of that (or 2^-25), so |x' - hi - lo| <= 2^-22 |x'| + 2^-25: the
 * TF32 split's bound (both formats have 11-bit significands) plus f16's
 * subnormal half-spacing. A product from the three pieces is then within
 * 3 * 2^-22 |a' b'| + 2^-25 (|a'| + |b'|) of exact; the second term is at
 * most 2^-36 of the product of the two largest (each >= 2^13), so each
 * term of a dot product carries the TF32 split's relative error plus an
 * absolute one 2^-12 of f32's own rounding of the largest term. The f32
 * tests (float64 reference) pass on it with the TF32 kernel's margins,
 * and a host model of this algorithm, with q, k and v from 1e-30 to 1e5
 * in magnitude, stays within 1% of their tolerance.
 *
 * The rest follows cuda_attention_mma.cu (fragment layouts, ldmatrix
 * addressing, online softmax in base 2), with the split done once per tile
 * by the block: raw f32 tiles land through cp.async, each thread takes
 * its pieces into registers, the block agrees on the tiles' scales, the
 * next tile's copy is issued, and the pieces go to shared memory as f16
 * hi and lo in the 16-bit kernel's layout.
 */
#include "cuda_attention_tile.cuh"

using namespace kiln_dev;
using namespace kiln_dev::ptx;

namespace {

constexpr int BN = 32;          /* keys per tile */
constexpr float TOP = 16384.0f; /* 2^14: the scaled largest |x| is below it */

template <int D> struct h_shape {
  static constexpr int RS = D + 4; /* raw f32 row stride (16-byte pieces) */
  static constexpr int SD = D + 8; /* f16 row stride: 16 bytes of padding, as the 16-bit kernel */
  static constexpr int RAW = BN * RS, HALF = BN * SD;
  /* Raw K, raw V (f32), then K hi, K lo, V hi, V lo (f16), then the
   * warps' partial maxima (2 per warp). */
  static constexpr size_t SMEM = (size_t)2 * RAW * 4 + (size_t)4 * HALF * 2 + 2 * ATTN_WARPS * 4;
  /* Each thread's share of a tile: 16-byte pieces of K, and of V. */
  static constexpr int PIECES = BN * D / 4 / ATTN_THREADS;
  static_assert(D % 32 == 0 && D <= 128, "D of 32, 64 or 128");
  static_assert(BN * D / 4 % ATTN_THREADS == 0, "whole pieces per thread");
};

/* The exponent e of m (>= 0, the largest |x| of a row or tile): m < 2^e,
 * so x 2^(14 - e) is below 2^14 and the largest at least 2^13. At least
 * E_MIN (0 included: any finite scale serves zeros), so that 2^(14 - e)
 * stays finite for f32's subnormals too. */
constexpr int E_MIN = -100;
__device__ __forceinline__ int top_exponent(float m) {
  int e;
  frexpf(m, &e);
  return m > 0.0f ? max(e, E_MIN) : E_MIN;
}

/* Two f32 (a in the low half) as f16 pairs hi + lo: hi = f16(x), lo =
 * f16(x - hi), x - hi being exact in f32; each pair one cvt.rn.f16x2. */
__device__ __forceinline__ void split2_f16(float a, float b, unsigned &hi, unsigned &lo) {
  const __half2 h = __floats2half2_rn(a, b);
  const float2 back = __half22float2(h);
  const __half2 l = __floats2half2_rn(a - back.x, b - back.y);
  hi = *reinterpret_cast<const unsigned *>(&h);
  lo = *reinterpret_cast<const unsigned *>(&l);
}

/* Four f32 (scaled by f) as f16 hi and lo, 8 bytes each, into shared. */
__device__ __forceinline__ void store_pieces(__half *hi, __half *lo, float4 x, float f) {
  uint2 h, l;
  split2_f16(x.x * f, x.y * f, h.x, l.x);
  split2_f16(x.z * f, x.w * f, h.y, l.y);
  *reinterpret_cast<uint2 *>(hi) = h;
  *reinterpret_cast<uint2 *>(lo) = l;
}

/* c += a b from f16 pieces: a_lo b_hi + a_hi b_lo + a_hi b_hi. */
__device__ __forceinline__ void mma16816_x3(float (&c)[4], const unsigned (&a_hi)[4],
                                            const unsigned (&a_lo)[4], unsigned bh0, unsigned bh1,
                                            unsigned bl0, unsigned bl1) {
  mma16816<__half>(c, a_lo, bh0, bh1);
  mma16816<__half>(c, a_hi, bl0, bl1);
  mma16816<__half>(c, a_hi, bh0, bh1);
}

template <int D, int MINB>
__global__ void __launch_bounds__(ATTN_THREADS, MINB) attn_mma_f32h_kernel(attn_args a) {
  KILN_KERNEL_BEGIN();
  using S = h_shape<D>;
  constexpr int SD = S::SD, NT = BN / 8, KS = D / 16, DT = D / 8, P = S::PIECES;
  extern __shared__ __align__(16) unsigned char smem_h[];
  float *kraw = reinterpret_cast<float *>(smem_h), *vraw = kraw + S::RAW;
  __half *khi = reinterpret_cast<__half *>(vraw + S::RAW), *klo = khi + S::HALF;
  __half *vhi = klo + S::HALF, *vlo = vhi + S::HALF;
  float *part = reinterpret_cast<float *>(vlo + S::HALF); /* [warp][K, V] */

  attn_block<float> bk;
  attn_rows rows;
  float o[DT][4], m[2], l[2];
  if (!attn_block_begin<BN>(a, bk, rows, o, m, l))
    return;
  const int warp = bk.warp, lane = bk.lane, gq = bk.gq, tq = bk.tq;
  int ev = E_MIN; /* E: V's running exponent */

  if (bk.n_tiles > 0) {
    const float *qg, *kg, *vg, *mrow[2];
    attn_block_inputs<D>(a, bk, rows, qg, kg, vg, mrow);

    attn_load_tile<BN, D, S::RS>(kraw, kg, a.k_row, (int)min((int64_t)BN, bk.block_end));
    attn_load_tile<BN, D, S::RS>(vraw, vg, a.v_row, (int)min((int64_t)BN, bk.block_end));
    cp_async_commit();

    /* Q's A fragments (k-step kk: dims 16 kk ..; reg 0 row gq, dims
     * 2 tq, 2 tq + 1; reg 1 row gq + 8; regs 2, 3 the same 8 dims on),
     * in base 2, each row scaled into [2^13, 2^14) by its quad's maximum. */
    float qv[2][KS][4];
    float qmax[2] = {0.0f, 0.0f};
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
      const float *qrow = qg + (int64_t)(warp * 16 + gq + 8 * rr) * a.q_row;
#pragma unroll
      for (int kk = 0; kk < KS; kk++)
#pragma unroll
        for (int half = 0; half < 2; half++) {
          float2 x = make_float2(0.0f, 0.0f);
          if (rows.ok[rr])
            x = __ldg(reinterpret_cast<const float2 *>(qrow + 16 * kk + 8 * half + 2 * tq));
          qv[rr][kk][2 * half] = x.x * a.scale_log2;
          qv[rr][kk][2 * half + 1] = x.y * a.scale_log2;
          qmax[rr] = fmaxf(qmax[rr], fmaxf(fabsf(qv[rr][kk][2 * half]),
                                           fabsf(qv[rr][kk][2 * half + 1])));
        }
    }
    int eq[2];
    unsigned qh[KS][4], ql[KS][4];
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
      qmax[rr] = fmaxf(qmax[rr], __shfl_xor_sync(0xffffffffu, qmax[rr], 1));
      qmax[rr] = fmaxf(qmax[rr], __shfl_xor_sync(0xffffffffu, qmax[rr], 2));
      eq[rr] = top_exponent(qmax[rr]);
      const float f = ldexpf(TOP, -eq[rr]);
#pragma unroll
      for (int kk = 0; kk < KS; kk++)
#pragma unroll
        for (int half = 0; half < 2; half++)
          split2_f16(qv[rr][kk][2 * half] * f, qv[rr][kk][2 * half + 1] * f,
                     qh[kk][rr + 2 * half], ql[kk][rr + 2 * half]);
    }

    for (int t = 0; t < bk.n_tiles; t++) {
      const int64_t k0 = (int64_t)t * BN, k1 = k0 + BN;
      cp_async_wait<0>();
      __syncthreads(); /* tile t landed; the f16 tiles and part are no longer read */
      /* This thread's pieces: piece c = threadIdx.x + i ATTN_THREADS of each
       * operand, row c / (D / 4), dims 4 (c % (D / 4)) ... */
      float4 kp[P], vp[P];
      float kmax = 0.0f, vmax = 0.0f;
#pragma unroll
      for (int i = 0; i < P; i++) {
        const int c = threadIdx.x + i * ATTN_THREADS, row = c / (D / 4), col = c % (D / 4) * 4;
        kp[i] = *reinterpret_cast<const float4 *>(kraw + row * S::RS + col);
        vp[i] = *reinterpret_cast<const float4 *>(vraw + row * S::RS + col);
        kmax = fmaxf(kmax, fmaxf(fmaxf(fabsf(kp[i].x), fabsf(kp[i].y)),
                                 fmaxf(fabsf(kp[i].z), fabsf(kp[i].w))));
        vmax = fmaxf(vmax, fmaxf(fmaxf(fabsf(vp[i].x), fabsf(vp[i].y)),
                                 fmaxf(fabsf(vp[i].z), fabsf(vp[i].w))));
      }
      kmax = warp_reduce(kmax, [](float x, float y) { return fmaxf(x, y); });
      vmax = warp_reduce(vmax, [](float x, float y) { return fmaxf(x, y); });
      if (lane == 0) {
        part[2 * warp] = kmax;
        part[2 * warp + 1] = vmax;
      }
      __syncthreads(); /* the partial maxima are in; the raw tiles are free */
      if (t + 1 < bk.n_tiles) {
        const int nv = (int)min((int64_t)BN, bk.block_end - k1);
        attn_load_tile<BN, D, S::RS>(kraw, kg + k1 * a.k_row, a.k_row, nv);
        attn_load_tile<BN, D, S::RS>(vraw, vg + k1 * a.v_row, a.v_row, nv);
        cp_async_commit();
      }
#pragma unroll
      for (int w = 0; w < ATTN_WARPS; w++) {
        kmax = fmaxf(kmax, part[2 * w]);
        vmax = fmaxf(vmax, part[2 * w + 1]);
      }
      const int ek = top_exponent(kmax);
      const int ev_new = max(ev, top_exponent(vmax));
      const float kf = ldexpf(TOP, -ek), vf = ldexpf(TOP, -ev_new);
#pragma unroll
      for (int i = 0; i < P; i++) {
        const int c = threadIdx.x + i * ATTN_THREADS, row = c / (D / 4), col = c % (D / 4) * 4;
        store_pieces(khi + row * SD + col, klo + row * SD + col, kp[i], kf);
        store_pieces(vhi + row * SD + col, vlo + row * SD + col, vp[i], vf);
      }
      __syncthreads(); /* the f16 tiles are written */

      /* S = Q K^T: per 8 keys, one ldmatrix.x4 of hi and one of lo cover
       * 32 dims (2 k-steps), as in the 16-bit kernel. */
      float sc[NT][4];
      attn_tile_qk<D / 32>(sc, [&](float (&c)[4], int nt, int kk) {
        unsigned bh[4], bl[4];
        const int at = (nt * 8 + lane % 8) * SD + 32 * kk + 8 * (lane / 8);
        ldmatrix_x4(bh, khi + at);
        ldmatrix_x4(bl, klo + at);
        mma16816_x3(c, qh[2 * kk], ql[2 * kk], bh[0], bh[1], bl[0], bl[1]);
        mma16816_x3(c, qh[2 * kk + 1], ql[2 * kk + 1], bh[2], bh[3], bl[2], bl[3]);
      });

      /* Unscale (into base-2 scores), mask, and the online softmax. */
      float unscale[2];
#pragma unroll
      for (int rr = 0; rr < 2; rr++)
        unscale[rr] = ldexpf(1.0f, eq[rr] + ek - 28);
      float mx[2];
      attn_tile_scores(sc, mx, a.mask, k0 + BN > bk.block_min_end, k0, rows.kend, mrow, tq,
                       [&](int rr, float x) { return x * unscale[rr]; });
      /* P's bias puts 2^14 into p (and l); V's exponent change rescales O
       * with the softmax's correction. */
      const float vcorr = ldexpf(1.0f, max(ev - ev_new, -126));
      ev = ev_new;
      attn_tile_softmax<true>(sc, mx, m, l, o, vcorr);

      /* O += P V, 16 keys per k-step: S's accumulators of n-tiles 2 kc and
       * 2 kc + 1 are P's A fragment (as in the 16-bit kernel), split. */
#pragma unroll
      for (int kc = 0; kc < BN / 16; kc++) {
        unsigned ph[4], pl[4];
#pragma unroll
        for (int r = 0; r < 4; r++)
          split2_f16(sc[2 * kc + r / 2][2 * (r % 2)], sc[2 * kc + r / 2][2 * (r % 2) + 1], ph[r],
                     pl[r]);
#pragma unroll
        for (int dp = 0; dp < D / 16; dp++) {
          unsigned bh[4], bl[4];
          const int at = (16 * kc + lane % 8 + 8 * ((lane / 8) & 1)) * SD + 16 * dp + 8 * (lane / 16);
          ldmatrix_x4_trans(bh, vhi + at);
          ldmatrix_x4_trans(bl, vlo + at);
          mma16816_x3(o[2 * dp], ph, pl, bh[0], bh[1], bl[0], bl[1]);
          mma16816_x3(o[2 * dp + 1], ph, pl, bh[2], bh[3], bl[2], bl[3]);
        }
      }
    }
  }

  /* Normalize (O is in units of 2^(E - 14)) and store. */
  attn_block_store(bk, rows, o, l, bk.n_tiles > 0 ? ldexpf(1.0f, ev - 14) : 0.0f);
}

template <int D> constexpr int H_MIN_BLOCKS = D == 32 ? 4 : D == 64 ? 3 : 2;

template <int D> cudaError_t launch_f32h(const attn_args &a, cudaStream_t stream) {
  constexpr size_t smem = h_shape<D>::SMEM;
  return attn_launch_prefill(attn_mma_f32h_kernel<D, H_MIN_BLOCKS<D>>, a, smem, stream);
}

} // namespace

cudaError_t kiln_cuda_attention_mma_f32h(const attn_args &a, cudaStream_t stream) {
  switch (a.d) {
  case 32: return launch_f32h<32>(a, stream);
  case 64: return launch_f32h<64>(a, stream);
  default: return launch_f32h<128>(a, stream);
  }
}
