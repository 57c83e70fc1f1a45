/*
 * Decode attention on tensor cores: a few queries per sequence against a
 * long KV cache, f16/bf16, D 32, 64 or 128. The work is reading K and V
 * once at the copy speed of the card; everything else is arranged so that
 * the reads never wait.
 *
 * A block takes one (sequence b, kv head g, chunk of 16 query rows, split
 * of the keys). The chunk's rows are the GQA group's heads times the
 * sequence's queries (row idx = i * group + hh, as in cuda_attention_decode.cu),
 * padded to 16 so they are the A operand of mma.sync m16n8k16; compute is
 * free at decode's arithmetic intensity, so the padding costs nothing that
 * matters. Each of the block's 4 warps streams its own 16-key tiles of the
 * split (warp w takes keys start + 64 t + 16 w ..) through a private
 * cp.async pipeline in shared memory: 16-byte copies, two tiles (16 KB of
 * K and V at D 128) in flight per warp while it computes a third, or five
 * where the grid is one block per SM and the split is long (6 stages,
 * launch_for_shape), no block barrier in the loop. Per tile, S = Q K^T
 * (ldmatrix), an online softmax in f32 and base 2, O += P V
 * (ldmatrix.trans) as in cuda_attention_mma.cu. Registers: Q's fragments (D / 2) and O (D / 2)
 * per thread, so two blocks (8 warps) fit on an SM beside their
 * shared memory.
 *
 * At the end the 4 warps merge in shared memory; with one split the block
 * writes out, else it writes its partial (max m, sum l, unnormalized O) to
 * the workspace and counts itself in the chunk's counter; the last block
 * of the chunk to arrive merges every split's partial and writes out, and
 * sets the counter back to 0 (no second kernel, so no launch and no
 * second pass for a short cache).
 *
 * Latency matters at B = 1 (a 4096-key cache is 16 MB: 4 us at the copy
 * ceiling), so the dependent trips to memory are few: in the padded layout
 * the first tiles are requested before the device-side lengths are checked
 * (addresses are in bounds whatever they hold), and the last block asks
 * for all of a row's (m, l) at once and 16 splits' partials at a time.
 *
 * Splits: enough that the grid is one block per SM (a B = 1 cache of 8 kv
 * heads is cut in 16; B = 16 is not cut), never under MIN_SPLIT_KEYS keys;
 * with 3 stages two blocks fit per SM, so a grid a little over the SMs,
 * and the next launch's blocks (programmatic dependent launch), are
 * resident at once.
 *
 * Measured on an H200 (2026-12-01, attention_gpu_bench decode, bf16,
 * Hq 32, Hkv 8, D 128, causal, seqlens_k = Sk; GB/s counts q, k, v and
 * out once; copy ceiling 4206 GB/s in the same session), one block per SM:
 *   B 1  Sk 4096 / 16384 / 32768:    11.3 / 25.0 / 41.3 us,
 *                                    1492 / 2686 / 3253 GB/s (35 / 64 / 77%)
 *   B 16 Sk 4096 / 16384 / 32768:    70.9 / 264.2 / 521.7 us,
 *                                    3788 / 4065 / 4117 GB/s (90 / 97 / 98%)
 *   B 16 Sq 4 Sk 8192:               139.3 us, 3862 GB/s (92%)
 * (the CUDA-core kernel before it: 554-793 GB/s at B 1, 1000-1112 at
 * B 16, 519 at Sq 4). The times fit about 7-9 us per call plus the bytes
 * at 4.1-4.2 TB/s: the fixed part (launch, the first trip to memory, the
 * merge of the splits, the tail) is what keeps B = 1 under 80% below
 * 32k keys; 16 MB at the copy ceiling would be 4 us.
 *
 * Workspace (the context's workspace, shared with cuBLASLt; stream order
 * keeps them apart): acc [units][splits][16][D] then ml [units][splits][16][2]
 * floats, unit = (b * hkv + g) * chunks + chunk. Counters: the context's
 * attn_counters (zeroed at creation, left zeroed by every launch).
 */
#include "cuda_attention_tile.cuh"

using namespace kiln_dev;
using namespace kiln_dev::ptx;

namespace {

constexpr int TC_WARPS = 4;
constexpr int TC_THREADS = 32 * TC_WARPS;
constexpr int TC_ROWS = 16;                       /* query rows per block: one m16 tile */
constexpr int TC_KEYS = 16;                       /* keys per warp tile */
constexpr int TC_STEP = TC_WARPS * TC_KEYS;       /* keys per block step */
constexpr int TC_STAGES = 3;                      /* tiles per warp pipeline (default) */
constexpr int TC_WAVE = 1;                        /* blocks per SM the splits are sized for */
constexpr int TC_MAX_SPLITS = 128;                /* the last block's weights in shared memory */
constexpr int64_t MIN_SPLIT_KEYS = 2 * TC_STEP;   /* two steps per warp at least */
static_assert(TC_MAX_SPLITS % 32 == 0, "the last block's lanes take whole rounds of splits");

/* ST stages of tiles per warp; 3 leave room for two blocks per SM, 6 for
 * one (launch_for_shape chooses). */
template <int D, int ST> struct tc_shape {
  static constexpr int BLOCKS_PER_SM = ST == 3 ? 2 : 1; /* launch bounds, shared memory */
  static constexpr int SD = D + 8; /* shared row stride: 16 bytes of padding (ldmatrix banks) */
  static constexpr int TILE = TC_KEYS * SD;          /* one K or V tile, elements */
  static constexpr int WARP_ELEMS = ST * 2 * TILE;
  static constexpr int Q_ELEMS = TC_ROWS * SD;
  static constexpr size_t PIPE = (size_t)(Q_ELEMS + TC_WARPS * WARP_ELEMS) * 2;
  static constexpr size_t MERGE = (size_t)TC_WARPS * TC_ROWS * (D + 2) * sizeof(float);
  static constexpr size_t COMBINE = (size_t)(TC_MAX_SPLITS + 1) * TC_ROWS * sizeof(float);
  static constexpr size_t SMEM = PIPE > MERGE ? (PIPE > COMBINE ? PIPE : COMBINE)
                                              : (MERGE > COMBINE ? MERGE : COMBINE);
  static_assert(D == 32 || D == 64 || D == 128, "D of 32, 64 or 128");
  static_assert(BLOCKS_PER_SM * (SMEM + 1024) <= 228 * 1024, "blocks per SM (sm_90)");
};

struct tc_args {
  attn_args a;
  int splits;
  int chunks;          /* row chunks of 16 per (b, g) */
  int64_t split_keys;  /* keys per split, a multiple of TC_STEP */
  float *ws_acc, *ws_ml;
  unsigned *counters;  /* one per unit, zero between launches */
};

template <class T, int D, int ST>
__global__ void __launch_bounds__(TC_THREADS, (tc_shape<D, ST>::BLOCKS_PER_SM))
    attn_decode_mma_kernel(tc_args ta) {
  KILN_KERNEL_BEGIN();
  using S = tc_shape<D, ST>;
  constexpr int SD = S::SD, KS = D / 16, DT = D / 8, PIECES = D / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ int last_block;
  const attn_args &a = ta.a;
  /* The padded layout puts every row in bounds whatever seqlens_k holds
   * (it is clamped to the keys for addressing), so there the first tiles
   * are requested before the lengths are checked, and the check's reads
   * overlap theirs. Varlen offsets are checked first. */
  const bool early = !a.cu_q;
  if (!early && !attn_lengths_ok(a))
    return;

  const int split = blockIdx.x, chunk = blockIdx.y;
  const int b = blockIdx.z / a.hkv, g = blockIdx.z % a.hkv;
  attn_seq s = attn_sequence(a, b);
  s.kv = min(max(s.kv, (int64_t)0), s.lk); /* a no-op once checked */
  s.shift = s.kv - s.lq;
  const int64_t nrows = s.lq * a.group; /* rows of this (b, g) */
  const int64_t idx0 = (int64_t)chunk * TC_ROWS;
  if (idx0 >= nrows)
    return; /* past this sequence's queries: every split of the chunk leaves here */
  const int valid_rows = (int)min((int64_t)TC_ROWS, nrows - idx0);
  const int64_t unit = (int64_t)blockIdx.z * ta.chunks + chunk;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int gq = lane / 4, tq = lane % 4;

  /* This thread's rows gq and gq + 8: the keys each sees, its mask row.
   * Rows past the chunk see nothing (their scores are all masked). */
  int64_t kend[2];
  const T *mrow[2];
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    const int64_t idx = idx0 + gq + 8 * rr;
    const bool ok = idx < nrows;
    const int64_t i = idx / a.group;
    const int h = g * a.group + (int)(idx % a.group);
    kend[rr] = ok ? attn_key_end(a, s, i) : 0;
    mrow[rr] = ok && a.mask ? (const T *)a.mask + b * a.mask_b + h * a.mask_h + i * a.mask_q
                            : nullptr;
  }
  /* Rows are in query order, and a later query sees at least as many keys. */
  const int64_t block_end = attn_key_end(a, s, (idx0 + valid_rows - 1) / a.group);
  const int64_t start = (int64_t)split * ta.split_keys;
  const int64_t stop = min(start + ta.split_keys, block_end);
  const int n_steps = stop > start ? (int)((stop - start + TC_STEP - 1) / TC_STEP) : 0;

  T *qs = reinterpret_cast<T *>(smem_raw);
  T *wbuf = qs + S::Q_ELEMS + warp * S::WARP_ELEMS; /* stage st: K at 2 st TILE, V after */

  /* The chunk's query rows into shared memory (zeros past valid_rows). */
  for (int c = threadIdx.x; c < TC_ROWS * PIECES; c += TC_THREADS) {
    const int row = c / PIECES, col = c % PIECES * 8;
    const bool ok = row < valid_rows;
    const int64_t idx = idx0 + row;
    const int64_t i = idx / a.group;
    const int h = g * a.group + (int)(idx % a.group);
    const T *src = (const T *)a.q + (s.q_start + i) * a.q_row + (int64_t)h * D + col;
    cp_async16(qs + row * SD + col, ok ? src : (const T *)a.q, ok);
  }
  cp_async_commit();

  const T *kg = (const T *)a.k + s.k_start * a.k_row + (int64_t)g * D;
  const T *vg = (const T *)a.v + s.k_start * a.v_row + (int64_t)g * D;
  /* Step t's tile of this warp: keys key0 .. key0 + 15, those at or past
   * stop zero-filled (never read). */
  auto load_tile = [&](int t) {
    const int64_t key0 = start + (int64_t)t * TC_STEP + warp * TC_KEYS;
    const int valid = (int)max(min((int64_t)TC_KEYS, stop - key0), (int64_t)0);
    T *kd = wbuf + (t % ST) * 2 * S::TILE, *vd = kd + S::TILE;
#pragma unroll
    for (int c = lane; c < TC_KEYS * PIECES; c += 32) {
      const int row = c / PIECES, col = c % PIECES * 8;
      const bool ok = row < valid;
      cp_async16(kd + row * SD + col, ok ? kg + (key0 + row) * a.k_row + col : kg, ok);
      cp_async16(vd + row * SD + col, ok ? vg + (key0 + row) * a.v_row + col : vg, ok);
    }
  };
  /* Groups in commit order: Q, then one per step (maybe empty), so after
   * committing step t + STAGES - 1, wait_group STAGES - 1 means step t
   * (and Q) landed. */
#pragma unroll
  for (int t = 0; t < ST - 1; t++) {
    if (t < n_steps)
      load_tile(t);
    cp_async_commit();
  }
  if (early && !attn_lengths_ok(a)) {
    cp_async_wait<0>(); /* nothing written: leave no copy in flight */
    return;
  }
  cp_async_wait<ST - 1>();
  __syncthreads(); /* Q from every thread's copies */
  unsigned qf[KS][4];
#pragma unroll
  for (int kk = 0; kk < KS; kk++) {
    const int mi = lane / 8; /* ldmatrix: lanes 8 mi .. 8 mi + 7 address matrix mi */
    ldmatrix_x4(qf[kk], qs + (lane % 8 + 8 * (mi & 1)) * SD + 16 * kk + 8 * (mi >> 1));
  }

  float o[DT][4];
#pragma unroll
  for (int dt = 0; dt < DT; dt++)
#pragma unroll
    for (int e = 0; e < 4; e++)
      o[dt][e] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

  for (int t = 0; t < n_steps; t++) {
    if (t + ST - 1 < n_steps)
      load_tile(t + ST - 1); /* into the stage step t - 1 used */
    cp_async_commit();
    cp_async_wait<ST - 1>();
    __syncwarp(); /* the tile from every lane's copies */
    const T *kt = wbuf + (t % ST) * 2 * S::TILE, *vt = kt + S::TILE;
    const int64_t key0 = start + (int64_t)t * TC_STEP + warp * TC_KEYS;

    /* S = Q K^T, 16 rows x 16 keys: per 8 keys one ldmatrix.x4 covers 32 dims. */
    float sc[2][4];
#pragma unroll
    for (int nt = 0; nt < 2; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++)
        sc[nt][e] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < D / 32; kk++) {
        unsigned kb[4];
        ldmatrix_x4(kb, kt + (nt * 8 + lane % 8) * SD + 32 * kk + 8 * (lane / 8));
        mma16816<T>(sc[nt], qf[2 * kk], kb[0], kb[1]);
        mma16816<T>(sc[nt], qf[2 * kk + 1], kb[2], kb[3]);
      }
    }

    /* Scale, mask (the split's end, the row's keys, the mask tensor), and
     * the online softmax of this thread's two rows. */
    const int64_t kstop[2] = {min(kend[0], stop), min(kend[1], stop)};
    float mx[2];
    attn_tile_scores<true>(sc, mx, a.mask, true, key0, kstop, mrow, tq,
                           [&](int, float x) { return x * a.scale_log2; });
    attn_tile_softmax(sc, mx, m, l, o);

    /* O += P V: the two n-tiles of P are exactly one A fragment (16 keys). */
    const unsigned pa[4] = {pack2<T>(sc[0][0], sc[0][1]), pack2<T>(sc[0][2], sc[0][3]),
                            pack2<T>(sc[1][0], sc[1][1]), pack2<T>(sc[1][2], sc[1][3])};
#pragma unroll
    for (int dp = 0; dp < D / 16; dp++) {
      unsigned vb[4];
      ldmatrix_x4_trans(vb, vt + (lane % 8 + 8 * ((lane / 8) & 1)) * SD + 16 * dp + 8 * (lane / 16));
      mma16816<T>(o[2 * dp], pa, vb[0], vb[1]);
      mma16816<T>(o[2 * dp + 1], pa, vb[2], vb[3]);
    }
    __syncwarp(); /* every lane done with this stage before it is refilled */
  }

  /* Merge the 4 warps: their (m, l, O) into shared memory (the pipeline's,
   * drained first). */
  cp_async_wait<0>();
  __syncthreads();
  float *mo = reinterpret_cast<float *>(smem_raw); /* [warp][row][D] */
  float *mml = mo + TC_WARPS * TC_ROWS * D;        /* [warp][row][2] */
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    const int row = gq + 8 * rr;
    float sum = l[rr];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    float *orow = mo + (warp * TC_ROWS + row) * D;
#pragma unroll
    for (int dt = 0; dt < DT; dt++) {
      orow[8 * dt + 2 * tq] = o[dt][2 * rr];
      orow[8 * dt + 2 * tq + 1] = o[dt][2 * rr + 1];
    }
    if (tq == 0) {
      mml[2 * (warp * TC_ROWS + row)] = m[rr];
      mml[2 * (warp * TC_ROWS + row) + 1] = sum;
    }
  }
  __syncthreads();

  T *out = (T *)a.out;
  /* out's row of chunk row r */
  auto out_row = [&](int r) {
    const int64_t idx = idx0 + r;
    return (s.q_start + idx / a.group) * a.hq + g * a.group + (int)(idx % a.group);
  };
  const int64_t part = unit * ta.splits + split;
  for (int t = threadIdx.x; t < valid_rows * D; t += TC_THREADS) {
    const int r = t / D, d = t % D;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < TC_WARPS; w++)
      mx = fmaxf(mx, mml[2 * (w * TC_ROWS + r)]);
    const float bs = attn_base(mx);
    float sum = 0.0f, acc = 0.0f;
#pragma unroll
    for (int w = 0; w < TC_WARPS; w++) {
      const float wt = exp2f(mml[2 * (w * TC_ROWS + r)] - bs); /* a warp that saw nothing: 0 */
      sum = fmaf(mml[2 * (w * TC_ROWS + r) + 1], wt, sum);
      acc = fmaf(mo[(w * TC_ROWS + r) * D + d], wt, acc);
    }
    if (ta.splits == 1) {
      out[out_row(r) * D + d] = from_f32<T>(sum > 0.0f ? acc / sum : 0.0f); /* all masked: 0 */
    } else {
      ta.ws_acc[(part * TC_ROWS + r) * D + d] = acc;
      if (d == 0) {
        ta.ws_ml[2 * (part * TC_ROWS + r)] = mx;
        ta.ws_ml[2 * (part * TC_ROWS + r) + 1] = sum;
      }
    }
  }
  if (ta.splits == 1)
    return;

  /* The last split of the chunk to get here merges them all. */
  __threadfence(); /* this block's partial visible device-wide before it counts */
  __syncthreads();
  if (threadIdx.x == 0) {
    const unsigned before = atomicAdd(ta.counters + unit, 1u);
    last_block = before == (unsigned)ta.splits - 1;
    if (last_block)
      atomicExch(ta.counters + unit, 0u); /* every split has counted: ready for the next launch */
  }
  __syncthreads();
  if (!last_block)
    return;
  __threadfence();

  /* Per row (a warp each): the splits' weights exp2(m_p - max) into
   * shared memory, and 1 / sum; every (m, l) of the row requested at once.
   * Partials are read from L2 (__ldcg): other SMs wrote them. */
  float *wsm = reinterpret_cast<float *>(smem_raw); /* [split][row] */
  float *inv = wsm + TC_MAX_SPLITS * TC_ROWS;       /* [row] */
  const float2 *ml = reinterpret_cast<const float2 *>(ta.ws_ml) + unit * ta.splits * TC_ROWS;
  for (int r = warp; r < valid_rows; r += TC_WARPS) {
    constexpr int PER_LANE = TC_MAX_SPLITS / 32;
    float2 v[PER_LANE];
#pragma unroll
    for (int k = 0; k < PER_LANE; k++) {
      const int p = lane + 32 * k;
      v[k] = p < ta.splits ? __ldcg(ml + p * TC_ROWS + r) : make_float2(-INFINITY, 0.0f);
    }
    float mx = -INFINITY;
#pragma unroll
    for (int k = 0; k < PER_LANE; k++)
      mx = fmaxf(mx, v[k].x);
    const float bs = attn_base(warp_reduce(mx, op_max{}));
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < PER_LANE; k++) {
      const float wt = exp2f(v[k].x - bs); /* past the splits: exp2(-inf) = 0 */
      sum = fmaf(v[k].y, wt, sum);
      if (lane + 32 * k < ta.splits)
        wsm[(lane + 32 * k) * TC_ROWS + r] = wt;
    }
    sum = warp_reduce(sum, op_sum{});
    if (lane == 0)
      inv[r] = sum > 0.0f ? 1.0f / sum : 0.0f; /* every key masked: zeros */
  }
  __syncthreads();
  /* out = sum_p w_p acc_p / sum, 4 columns per thread, 16 splits' loads
   * in flight at a time. */
  constexpr int D4 = D / 4;
  const float4 *acc4 =
      reinterpret_cast<const float4 *>(ta.ws_acc) + unit * ta.splits * TC_ROWS * D4;
  for (int t = threadIdx.x; t < valid_rows * D4; t += TC_THREADS) {
    const int r = t / D4, d4 = t % D4;
    float4 o = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll 16
    for (int p = 0; p < ta.splits; p++) {
      const float4 x = __ldcg(acc4 + ((int64_t)p * TC_ROWS + r) * D4 + d4);
      const float wt = wsm[p * TC_ROWS + r];
      o.x = fmaf(x.x, wt, o.x);
      o.y = fmaf(x.y, wt, o.y);
      o.z = fmaf(x.z, wt, o.z);
      o.w = fmaf(x.w, wt, o.w);
    }
    const float iv = inv[r];
    T *dst = out + out_row(r) * D + 4 * d4;
    dst[0] = from_f32<T>(o.x * iv);
    dst[1] = from_f32<T>(o.y * iv);
    dst[2] = from_f32<T>(o.z * iv);
    dst[3] = from_f32<T>(o.w * iv);
  }
}

/* Blocks per SM the splits are sized for: TC_WAVE, or
 * KILN_CUDA_DECODE_WAVE=N in the environment (read once per process), for
 * measuring finer splits. On the H200 (2026-12-01) 1 beat 2 and 4 on every
 * decode shape of the bench: 11.3 / 12.6 / 12.6 us at B 1 Sk 4096, 41.3 /
 * 42.2 / 47.7 at B 1 Sk 32768, 70.9 / 74.3 / 80.5 at B 16 Sk 4096, 521.7 /
 * 524.9 / 528.1 at B 16 Sk 32768: past one block per SM, more splits only
 * add partials to merge and blocks to start. */
int64_t wave_blocks_per_sm() {
  const int w = kiln_cuda_env_decode_wave();
  return (int64_t)(w > 0 ? w : TC_WAVE);
}

/* The grid of a launch: chunks of rows and splits of the keys.
 * Splits: one wave of wave_blocks_per_sm() blocks per SM where the units
 * alone do not fill it (one more split where the whole ones would leave
 * a third of the wave empty: 67 to 87 units on 132 SMs, as B 9 to 10 at
 * 8 kv heads; not measured yet), no split under MIN_SPLIT_KEYS keys,
 * within the counters, the weights' shared memory and the workspace. */
template <int D> void plan_grid(tc_args &ta, int sm_count, void *work, size_t work_bytes) {
  const attn_args &a = ta.a;
  ta.chunks = (int)((a.sq * a.group + TC_ROWS - 1) / TC_ROWS);
  if (ta.chunks < 1)
    ta.chunks = 1;
  const int64_t units = (int64_t)a.batch * a.hkv * ta.chunks;
  const int64_t slots = (int64_t)(sm_count > 0 ? sm_count : 1) * wave_blocks_per_sm();
  int64_t splits = 1;
  if (units < slots && units <= KILN_CUDA_ATTENTION_COUNTERS) {
    splits = slots / units;
    if (3 * units * splits < 2 * slots)
      splits++;
    splits = min(splits, (a.sk + MIN_SPLIT_KEYS - 1) / MIN_SPLIT_KEYS);
    splits = min(splits, (int64_t)TC_MAX_SPLITS);
    const int64_t per_split = units * TC_ROWS * (D + 2) * (int64_t)sizeof(float);
    splits = min(splits, (int64_t)(work_bytes / (size_t)per_split));
    splits = max(splits, (int64_t)1);
  }
  /* Whole block steps per split, then the splits those leave non-empty. */
  ta.split_keys = ((a.sk + splits - 1) / splits + TC_STEP - 1) / TC_STEP * TC_STEP;
  if (ta.split_keys == 0)
    ta.split_keys = TC_STEP;
  ta.splits = (int)max((a.sk + ta.split_keys - 1) / ta.split_keys, (int64_t)1);
  if (ta.splits > 1) {
    ta.ws_acc = (float *)work;
    ta.ws_ml = ta.ws_acc + units * ta.splits * TC_ROWS * D;
  }
}

template <class T, int D, int ST>
cudaError_t launch_decode_mma(const tc_args &ta, cudaStream_t stream) {
  constexpr size_t smem = tc_shape<D, ST>::SMEM;
  if (smem > 48 * 1024) { /* per device, so on every launch (as cuda_attention_mma.cu) */
    const cudaError_t err = cudaFuncSetAttribute(
        attn_decode_mma_kernel<T, D, ST>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (err != cudaSuccess)
      return err;
  }
  const dim3 grid((unsigned)ta.splits, (unsigned)ta.chunks, (unsigned)(ta.a.batch * ta.a.hkv));
  return launch(attn_decode_mma_kernel<T, D, ST>, grid, dim3(TC_THREADS), smem, stream, ta);
}

/* The pipeline's depth: DEEP_STAGES where the grid is one wave of one
 * block per SM and each warp takes at least DEEP_MIN_STEPS tiles, else
 * TC_STAGES (which leaves room for a second block per SM: the next
 * launch's, or a second wave); KILN_CUDA_DECODE_STAGES=3|6 forces one.
 * On the H200 (2026-12-01, attention_gpu_bench, bf16 Hq 32 Hkv 8 D 128,
 * 3 / 6 stages, two runs each): B 1 Sk 4096 (4 tiles a warp) 11.1 / 11.5
 * us, Sk 16384 24.9 / 24.5, Sk 32768 41.4 / 40.7; B 16 Sk 16384 266 / 264,
 * Sk 32768 525 / 521; Sq 4 B 16 Sk 8192 140.2 / 138.3 (4 stages fell in
 * between). */
constexpr int DEEP_STAGES = 6;
constexpr int64_t DEEP_MIN_STEPS = 8;
template <class T, int D>
cudaError_t launch_for_shape(tc_args ta, int sm_count, void *work, size_t work_bytes,
                             cudaStream_t stream) {
  plan_grid<D>(ta, sm_count, work, work_bytes);
  const int64_t blocks = (int64_t)ta.splits * ta.chunks * ta.a.batch * ta.a.hkv;
  const int forced = kiln_cuda_env_decode_stages();
  const bool deep = forced ? forced == DEEP_STAGES
                           : blocks <= sm_count && ta.split_keys >= DEEP_MIN_STEPS * TC_STEP;
  return deep ? launch_decode_mma<T, D, DEEP_STAGES>(ta, stream)
              : launch_decode_mma<T, D, TC_STAGES>(ta, stream);
}

template <class T>
cudaError_t launch_for_d(const tc_args &ta, int sm_count, void *work, size_t work_bytes,
                         cudaStream_t stream) {
  switch (ta.a.d) { /* checked by kiln_cuda_attention_decode_mma_fits */
  case 32: return launch_for_shape<T, 32>(ta, sm_count, work, work_bytes, stream);
  case 64: return launch_for_shape<T, 64>(ta, sm_count, work, work_bytes, stream);
  default: return launch_for_shape<T, 128>(ta, sm_count, work, work_bytes, stream);
  }
}

} // namespace

bool kiln_cuda_attention_decode_mma_fits(const attn_args &a, kiln_dtype dtype) {
  if (dtype != KILN_F16 && dtype != KILN_BF16)
    return false;
  if (a.d != 32 && a.d != 64 && a.d != 128)
    return false;
  /* 16-byte cp.async pieces: rows and head starts at multiples of 8
   * elements (D is), pointers 16-byte aligned. out is written by element. */
  if (a.q_row % 8 || a.k_row % 8 || a.v_row % 8 || !aligned16(a.q) || !aligned16(a.k) ||
      !aligned16(a.v))
    return false;
  /* The grid: (splits, row chunks, batch * hkv). */
  return (int64_t)a.batch * a.hkv <= 65535 && (a.sq * a.group + TC_ROWS - 1) / TC_ROWS <= 65535;
}

cudaError_t kiln_cuda_attention_decode_mma(const attn_args &a, kiln_dtype dtype, int sm_count,
                                           void *work, size_t work_bytes, unsigned *counters,
                                           cudaStream_t stream) {
  tc_args ta = {};
  ta.a = a;
  ta.counters = counters;
  if (dtype == KILN_F16)
    return launch_for_d<__half>(ta, sm_count, work, work_bytes, stream);
  return launch_for_d<__nv_bfloat16>(ta, sm_count, work, work_bytes, stream);
}

kiln_status kiln_cuda_attention_init(kiln_cuda *st, const char *fn) {
  const size_t bytes = (size_t)KILN_CUDA_ATTENTION_COUNTERS * sizeof(unsigned);
  KILN_CUDA_TRY(kiln_cuda_check(
      cudaMallocFromPoolAsync((void **)&st->attn_counters, bytes, st->pool, st->stream), fn,
      "cudaMallocFromPoolAsync (attention counters)"));
  /* The counters start at 0; each launch leaves them at 0. */
  return kiln_cuda_check(cudaMemsetAsync(st->attn_counters, 0, bytes, st->stream), fn,
                         "cudaMemsetAsync (attention counters)");
}
