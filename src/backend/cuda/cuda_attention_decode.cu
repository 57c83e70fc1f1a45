/*
 * Attention for a few queries per sequence against long key caches (decode,
 * and speculative decode up to 8 queries): memory-bound, so the aim is to
 * read K and V once, with 16-byte loads, on every SM.
 *
 * The query rows that share a kv head (the GQA group, times the queries of
 * the sequence) are processed together, so each K and V row is read once
 * for all of them: a block takes up to R such rows ("a row chunk") and one
 * slice of the keys ("a split"). Within the block a key row is split over
 * LK lanes, each holding one 16-byte piece (VW elements; D = LK * VW), so
 * a warp works on 32 / LK keys at once ("slots"), U keys per slot per step,
 * all their loads issued before the first use. Every slot keeps its own
 * online softmax (max m, sum l, accumulator) per row; at the end the block
 * merges its slots in shared memory and either writes out (one split) or
 * writes the unnormalized partial (m, l, acc) of its split to the
 * workspace, and attn_combine_kernel merges the splits of each row.
 *
 * Rows of a (sequence b, kv head g): idx = i * group + hh for query i and
 * query head h = g * group + hh; chunk c holds idx c*R .. c*R + R - 1.
 * Workspace: acc [total_q * hq][splits][D] then ml [total_q * hq][splits][2]
 * floats, row id (q_start(b) + i) * hq + h.
 */
#include "cuda_attention.cuh"

using namespace kiln_dev;

namespace {

constexpr int DEC_THREADS = 128;
constexpr int DEC_WARPS = DEC_THREADS / 32;
/* Keys per slot per step: 4, 2 for 8 rows (else the 8 rows' registers spill). */
__host__ __device__ constexpr int dec_u(int rows) { return rows >= 8 ? 2 : 4; }
/* Fewer keys per split than this and the merge outweighs the parallelism. */
constexpr int64_t MIN_SPLIT_KEYS = 128;

struct dec_args {
  attn_args a;
  int splits;
  int64_t split_keys;   /* keys per split, a multiple of the block's slots * U */
  int64_t row_chunks;   /* per (b, g) */
  float *ws_acc, *ws_ml; /* splits > 1 */
};

template <class T, int LK, int R>
__global__ void __launch_bounds__(DEC_THREADS) attn_decode_kernel(dec_args da) {
  KILN_KERNEL_BEGIN();
  constexpr int VW = kiln_dev::VW<T>, D = LK * VW;
  constexpr int SPW = 32 / LK, NS = DEC_WARPS * SPW; /* slots per warp, per block */
  constexpr int U = dec_u(R);
  __shared__ float sm_acc[NS][R][D];
  __shared__ float sm_m[NS][R], sm_l[NS][R];
  const attn_args &a = da.a;
  if (!attn_lengths_ok(a))
    return;

  const int split = blockIdx.x;
  const int64_t chunk = blockIdx.y;
  const int b = blockIdx.z / a.hkv, g = blockIdx.z % a.hkv;
  const attn_seq s = attn_sequence(a, b);
  const int64_t nrows = s.lq * a.group; /* rows of this (b, g) */
  const int64_t idx0 = chunk * R;
  if (idx0 >= nrows)
    return; /* past this sequence's queries; the combine skips them too */

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int slot = warp * SPW + lane / LK, piece = lane % LK;

  /* This block's rows: query i, head h, the keys it sees, its mask row. */
  float q[R][VW];
  int64_t kend[R], moff[R];
  int64_t block_end = 0;
#pragma unroll
  for (int r = 0; r < R; r++) {
    const int64_t idx = idx0 + r;
    const bool ok = idx < nrows;
    const int64_t i = ok ? idx / a.group : 0;
    const int h = g * a.group + (int)(ok ? idx % a.group : 0);
    kend[r] = ok ? attn_key_end(a, s, i) : 0;
    block_end = max(block_end, kend[r]);
    moff[r] = b * a.mask_b + h * a.mask_h + i * a.mask_q;
    float qv[VW];
    if (ok)
      load16_ro((const T *)a.q + (s.q_start + i) * a.q_row + (int64_t)h * D + piece * VW, qv);
#pragma unroll
    for (int e = 0; e < VW; e++)
      q[r][e] = ok ? qv[e] * a.scale_log2 : 0.0f;
  }

  const int64_t start = (int64_t)split * da.split_keys;
  const int64_t stop = min(start + da.split_keys, block_end);
  const T *kp = (const T *)a.k + s.k_start * a.k_row + (int64_t)g * D + piece * VW;
  const T *vp = (const T *)a.v + s.k_start * a.v_row + (int64_t)g * D + piece * VW;
  const T *mask = (const T *)a.mask;

  float acc[R][VW], m[R], l[R];
#pragma unroll
  for (int r = 0; r < R; r++) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int e = 0; e < VW; e++)
      acc[r][e] = 0.0f;
  }

  for (int64_t base = start; base < stop; base += NS * U) {
    vec16<T> kv[U], vv[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      const int64_t j = base + u * NS + slot;
      if (j < stop) {
        kv[u] = load_vec16_ro(kp + j * a.k_row);
        vv[u] = load_vec16_ro(vp + j * a.v_row);
      } else {
        kv[u] = vec16<T>{}; /* zeros: masked below, and 0 * 0 is never NaN */
        vv[u] = vec16<T>{};
      }
    }
    float sc[R][U];
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
      for (int r = 0; r < R; r++) {
        float p = 0.0f;
#pragma unroll
        for (int e = 0; e < VW; e++)
          p = fmaf(q[r][e], to_f32(kv[u].e[e]), p);
#pragma unroll
        for (int o = 1; o < LK; o <<= 1) /* the slot's LK lanes are adjacent */
          p += __shfl_xor_sync(0xffffffffu, p, o);
        sc[r][u] = p;
      }
#pragma unroll
    for (int r = 0; r < R; r++) {
      float cmax = -INFINITY;
#pragma unroll
      for (int u = 0; u < U; u++) {
        const int64_t j = base + u * NS + slot;
        float v = sc[r][u];
        if (j >= stop || j >= kend[r])
          v = -INFINITY;
        else if (mask)
          v = fmaf(to_f32(mask[moff[r] + j]), LOG2E, v);
        sc[r][u] = v;
        cmax = fmaxf(cmax, v);
      }
      const float m_new = fmaxf(m[r], cmax);
      const float bs = attn_base(m_new);
      const float corr = exp2f(m[r] - bs);
      l[r] *= corr;
#pragma unroll
      for (int e = 0; e < VW; e++)
        acc[r][e] *= corr;
#pragma unroll
      for (int u = 0; u < U; u++) {
        const float p = exp2f(sc[r][u] - bs);
        l[r] += p;
#pragma unroll
        for (int e = 0; e < VW; e++)
          acc[r][e] = fmaf(p, to_f32(vv[u].e[e]), acc[r][e]);
      }
      m[r] = m_new;
    }
  }

  /* Merge the block's slots. */
#pragma unroll
  for (int r = 0; r < R; r++) {
#pragma unroll
    for (int e = 0; e < VW; e++)
      sm_acc[slot][r][piece * VW + e] = acc[r][e];
    if (piece == 0) {
      sm_m[slot][r] = m[r];
      sm_l[slot][r] = l[r];
    }
  }
  __syncthreads();
  for (int t = threadIdx.x; t < R * D; t += DEC_THREADS) {
    const int r = t / D, d = t % D;
    const int64_t idx = idx0 + r;
    if (idx >= nrows)
      continue;
    float mx = -INFINITY;
    for (int sl = 0; sl < NS; sl++)
      mx = fmaxf(mx, sm_m[sl][r]);
    const float bs = attn_base(mx);
    float sum = 0.0f, o = 0.0f;
    for (int sl = 0; sl < NS; sl++) {
      const float w = exp2f(sm_m[sl][r] - bs); /* an empty slot: m = -inf, w = 0 */
      sum = fmaf(sm_l[sl][r], w, sum);
      o = fmaf(sm_acc[sl][r][d], w, o);
    }
    const int64_t i = idx / a.group;
    const int h = g * a.group + (int)(idx % a.group);
    const int64_t row = (s.q_start + i) * a.hq + h;
    if (da.splits == 1) {
      ((T *)a.out)[row * D + d] = from_f32<T>(sum > 0.0f ? o / sum : 0.0f);
    } else {
      const int64_t p = row * da.splits + split;
      da.ws_acc[p * D + d] = o;
      if (d == 0) {
        da.ws_ml[2 * p] = mx;
        da.ws_ml[2 * p + 1] = sum;
      }
    }
  }
}

/* out row (b, i, h) from its splits' partials: one warp per row, lanes
 * over D. Rows idx = i * hq + h of sequence blockIdx.y. */
template <class T>
__global__ void __launch_bounds__(DEC_THREADS) attn_combine_kernel(dec_args da) {
  KILN_KERNEL_BEGIN();
  const attn_args &a = da.a;
  if (!attn_lengths_ok(a))
    return;
  const int b = blockIdx.y;
  const attn_seq s = attn_sequence(a, b);
  const int64_t idx = (int64_t)blockIdx.x * DEC_WARPS + threadIdx.x / 32;
  if (idx >= s.lq * a.hq)
    return;
  const int lane = threadIdx.x % 32;
  const int64_t row = (s.q_start + idx / a.hq) * a.hq + idx % a.hq;
  const float *ml = da.ws_ml + 2 * row * da.splits;
  float mx = -INFINITY;
  for (int p = 0; p < da.splits; p++)
    mx = fmaxf(mx, ml[2 * p]);
  const float bs = attn_base(mx);
  float sum = 0.0f;
  for (int p = 0; p < da.splits; p++)
    sum = fmaf(ml[2 * p + 1], exp2f(ml[2 * p] - bs), sum);
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f; /* every key masked: zeros */
  const float *acc = da.ws_acc + row * da.splits * a.d;
  for (int d = lane; d < a.d; d += 32) {
    float o = 0.0f;
    for (int p = 0; p < da.splits; p++)
      o = fmaf(acc[(int64_t)p * a.d + d], exp2f(ml[2 * p] - bs), o);
    ((T *)a.out)[row * a.d + d] = from_f32<T>(o * inv);
  }
}

/* The smallest row chunk that holds one kv head's rows, up to 8. */
int rows_per_block(const attn_args &a) {
  const int64_t n = a.sq * a.group;
  return n <= 1 ? 1 : n <= 2 ? 2 : n <= 4 ? 4 : 8;
}

template <class T, int LK, int R>
cudaError_t launch_decode(dec_args da, int sm_count, void *work, size_t work_bytes,
                          cudaStream_t stream) {
  constexpr int NS = DEC_WARPS * (32 / LK);
  const attn_args &a = da.a;
  da.row_chunks = (a.sq * a.group + R - 1) / R;
  /* Enough blocks for about 4 per SM, but no split under MIN_SPLIT_KEYS
   * keys, and no more partials than the workspace holds. */
  const int64_t units = (int64_t)a.batch * a.hkv * da.row_chunks;
  const int64_t want = ((int64_t)sm_count * 4 + units - 1) / units;
  int64_t splits = min(want, (a.sk + MIN_SPLIT_KEYS - 1) / MIN_SPLIT_KEYS);
  const int64_t per_split = a.total_q * a.hq * (a.d + 2) * (int64_t)sizeof(float);
  splits = min(splits, (int64_t)(work_bytes / (size_t)per_split));
  splits = max(min(splits, (int64_t)65535), (int64_t)1);
  /* Whole steps of the block (NS * U keys) per split, then the splits
   * those leave non-empty. */
  const int64_t step = NS * dec_u(R);
  da.split_keys = ((a.sk + splits - 1) / splits + step - 1) / step * step;
  if (da.split_keys == 0)
    da.split_keys = step;
  da.splits = (int)max((a.sk + da.split_keys - 1) / da.split_keys, (int64_t)1);
  if (da.splits > 1) {
    da.ws_acc = (float *)work;
    da.ws_ml = da.ws_acc + a.total_q * a.hq * da.splits * a.d;
  }
  const dim3 grid((unsigned)da.splits, (unsigned)da.row_chunks, (unsigned)(a.batch * a.hkv));
  cudaError_t err = launch(attn_decode_kernel<T, LK, R>, grid, dim3(DEC_THREADS), 0, stream, da);
  if (err != cudaSuccess || da.splits == 1)
    return err;
  const dim3 cgrid((unsigned)((a.sq * a.hq + DEC_WARPS - 1) / DEC_WARPS), (unsigned)a.batch);
  return launch(attn_combine_kernel<T>, cgrid, dim3(DEC_THREADS), 0, stream, da);
}

template <class T, int LK>
cudaError_t launch_decode_rows(const dec_args &da, int sm_count, void *work, size_t work_bytes,
                               cudaStream_t stream) {
  switch (rows_per_block(da.a)) {
  case 1: return launch_decode<T, LK, 1>(da, sm_count, work, work_bytes, stream);
  case 2: return launch_decode<T, LK, 2>(da, sm_count, work, work_bytes, stream);
  case 4: return launch_decode<T, LK, 4>(da, sm_count, work, work_bytes, stream);
  default: return launch_decode<T, LK, 8>(da, sm_count, work, work_bytes, stream);
  }
}

template <class T>
cudaError_t launch_decode_for(const dec_args &da, int sm_count, void *work, size_t work_bytes,
                              cudaStream_t stream) {
  switch (da.a.d / VW<T>) { /* LK, checked by kiln_cuda_attention_decode_fits */
  case 8: return launch_decode_rows<T, 8>(da, sm_count, work, work_bytes, stream);
  case 16: return launch_decode_rows<T, 16>(da, sm_count, work, work_bytes, stream);
  default: return launch_decode_rows<T, 32>(da, sm_count, work, work_bytes, stream);
  }
}

} // namespace

bool kiln_cuda_attention_decode_fits(const attn_args &a, kiln_dtype dtype) {
  const int vw = 16 / (int)kiln_dtype_size(dtype);
  const int lk = a.d / vw;
  if (a.d % vw || (lk != 8 && lk != 16 && lk != 32))
    return false;
  /* 16-byte pieces of every row and head. */
  if (a.q_row % vw || a.k_row % vw || a.v_row % vw || !aligned16(a.q) || !aligned16(a.k) ||
      !aligned16(a.v))
    return false;
  /* The grids: (splits, row chunks, batch * hkv) and (rows / 4, batch). */
  return (int64_t)a.batch * a.hkv <= 65535 && a.sq * a.group <= 65535 * 8 &&
         a.sq * a.hq / DEC_WARPS < INT32_MAX;
}

cudaError_t kiln_cuda_attention_decode(const attn_args &a, kiln_dtype dtype, int sm_count,
                                       void *work, size_t work_bytes, cudaStream_t stream) {
  dec_args da = {};
  da.a = a;
  return with_dtype(dtype, [&](auto t) {
    return launch_decode_for<decltype(t)>(da, sm_count, work, work_bytes, stream);
  });
}
