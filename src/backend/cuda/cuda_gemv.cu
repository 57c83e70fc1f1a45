/*
 * kiln's n-major GEMV: a matmul with few rows of a (m <= 16, m <= n) and b
 * stored [k, n] (no transpose_b), so that each row of b is contiguous
 * along n. Reading b once is the whole cost (64 MiB for f32 4096 x 4096),
 * so the kernel is built around that read:
 *
 *   - a block owns a span of COLS = 32 * E columns and a slab of k; each
 *     lane loads E adjacent columns of a row of b (16 bytes: one coalesced
 *     512-byte access per warp), the block's 8 warps take different rows of
 *     the slab, U rows per warp in flight before the first FMA;
 *   - x is read as broadcast scalars (every lane of a warp reads the same
 *     element: one transaction, from L1/L2 after the first block);
 *   - the warps' sums meet in shared memory; with one slab (n alone gives
 *     enough blocks) the block writes out directly;
 *   - otherwise k is split into slabs so that about SPLIT_BLOCKS_PER_SM
 *     blocks run on every SM (at n = 4096 f32 there are only 32 spans: 8
 *     slabs of 512 rows). Each block writes its per-(row, column) partial sums to the
 *     context's GEMV workspace; the last block of a span to finish (a
 *     counter per span, the classic threadfence reduction) adds the slabs'
 *     partials in slab order, applies alpha, beta and bias and rounds once,
 *     then sets the counter back to 0 for the next launch. The order of the
 *     sum does not depend on which block finished last: the result is
 *     deterministic.
 *
 * Rows of b whose start is not aligned for vector loads (n not a multiple
 * of E, or b itself unaligned) take the same kernel with scalar loads:
 * lane l reads columns l, l + 32, ... of the span, each load still one
 * coalesced access per warp.
 *
 * 16 rows of 16-bit x take 4 columns a lane (8-byte loads) so that the sums
 * stay at 64 registers a thread.
 *
 * All of it in f32; f16/bf16 are converted on load and rounded once at the
 * store. out = alpha * sum + beta * out + bias, as the thin kernels do; with
 * beta == 0, out is not read.
 */
#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "cuda_gemm.h"

using namespace kiln_dev;

namespace {

constexpr int THREADS = 256;
constexpr int WARPS = THREADS / 32;

/* Columns per lane: 16 bytes of T, fewer when 16 rows of 16-bit x would
 * make more than 64 accumulators per thread (bf16 at 16 rows: 4 columns,
 * 8-byte loads). */
template <class T, int TM> __host__ __device__ constexpr int cols_per_lane() {
  return TM * VW<T> <= 64 ? VW<T> : 64 / TM;
}
/* Rows of b in flight per warp step (U), and blocks per SM the register
 * budget must allow, from the floats a step holds: U * E of b, U * TM of x,
 * TM * E sums. One row of x: 4 blocks (64 registers a thread), which 44
 * such floats fit without spills; more rows: 2 blocks (128 registers), 80
 * floats (ptxas -v, CUDA 13.0; two rows at 64 registers spilled). More
 * blocks and rows in flight put more of b's bytes in flight per SM.
 * Provisional: the lead measures them on the H200. */
__host__ __device__ constexpr int step_floats(int u, int tm, int e) {
  return u * e + u * tm + tm * e;
}
template <class T, int TM> __host__ __device__ constexpr int min_blocks() { return TM == 1 ? 4 : 2; }
/* Blocks per SM the k split is sized for (KILN_CUDA_GEMV_BLOCKS=N to
 * measure others). On the H200 (2026-12-01, kiln bench, one run; 1 / 2 /
 * 4 / 8 blocks per SM) f32 1x4096x4096 took 20.1 / 19.0 / 19.7 / 21.8 us
 * and bf16 15.2 / 12.4 / 14.5 / 16.5 us: 2 is fastest for one row of x,
 * where the registers would allow 4. */
constexpr int SPLIT_BLOCKS_PER_SM = 2;
template <class T, int TM> __host__ __device__ constexpr int rows_in_flight() {
  constexpr int E = cols_per_lane<T, TM>(), BUDGET = TM == 1 ? 44 : 80;
  return step_floats(8, TM, E) <= BUDGET ? 8 : step_floats(4, TM, E) <= BUDGET ? 4 : 2;
}

template <class T> struct gemv_args {
  const T *x, *w, *bias;
  T *out;
  int64_t t, n, k;
  int64_t x_si, x_sk;                   /* X(i, p) = x[i * x_si + p * x_sk] */
  int64_t stride_x, stride_w, stride_o; /* per batch, in elements */
  int64_t spans;                        /* spans of COLS columns per row of out */
  int64_t splits, slab;                 /* k as `splits` slabs of `slab` rows */
  float alpha, beta;
  unsigned int *count; /* [batch * spans], 0 between launches (splits > 1) */
  float *part;         /* [batch * spans][splits][t][COLS] (splits > 1) */
};

template <class T, int E> struct alignas(E * sizeof(T)) cols_vec {
  T e[E];
};

/* out[:] = columns of one row of b: col .. col + E - 1 (VEC: the caller
 * keeps col in bounds), or col + 32 e, where those at or past n read
 * column n - 1 (in bounds; their sums are never stored). */
template <class T, int E, bool VEC>
__device__ __forceinline__ void load_cols(const T *row, int64_t col, int64_t n, float (&out)[E]) {
  if (VEC) {
    const cols_vec<T, E> v = *reinterpret_cast<const cols_vec<T, E> *>(row + col);
#pragma unroll
    for (int e = 0; e < E; e++)
      out[e] = to_f32(v.e[e]);
  } else {
#pragma unroll
    for (int e = 0; e < E; e++)
      out[e] = to_f32(row[col + 32 * e < n ? col + 32 * e : n - 1]);
  }
}

/* X(i, p) as f32; rows of x past t read as row t - 1 (in bounds; their
 * sums are never stored). */
template <class T>
__device__ __forceinline__ float x_at(const gemv_args<T> &g, const T *x, int i, int64_t p) {
  return to_f32(x[(i < g.t ? i : g.t - 1) * g.x_si + p * g.x_sk]);
}

/* acc[i][e] += X(i, p + u) * b(p + u, column e) for the U rows from p, the
 * loads of b all issued before the first FMA. With few rows of x, x's
 * values are loaded up front too; with 8 or 16, beside their FMAs (held
 * all at once they would spill). TAIL: only rows p + u < end; the others
 * count as zeros. */
template <class T, int TM, int E, int U, bool VEC, bool TAIL>
__device__ __forceinline__ void step(const gemv_args<T> &g, const T *x, const T *w, int64_t col,
                                     int64_t p, int64_t end, float (&acc)[TM][E]) {
  constexpr bool X_FIRST = TM < 8;
  float wv[U][E], xv[X_FIRST ? U : 1][TM];
#pragma unroll
  for (int u = 0; u < U; u++) {
    if (!TAIL || p + u < end) {
      load_cols<T, E, VEC>(w + (p + u) * g.n, col, g.n, wv[u]);
    } else {
#pragma unroll
      for (int e = 0; e < E; e++)
        wv[u][e] = 0.0f;
    }
    if (X_FIRST)
#pragma unroll
      for (int i = 0; i < TM; i++)
        xv[X_FIRST ? u : 0][i] = !TAIL || p + u < end ? x_at(g, x, i, p + u) : 0.0f;
  }
#pragma unroll
  for (int u = 0; u < U; u++) {
    if (!X_FIRST)
#pragma unroll
      for (int i = 0; i < TM; i++)
        xv[0][i] = !TAIL || p + u < end ? x_at(g, x, i, p + u) : 0.0f;
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
      for (int e = 0; e < E; e++)
        acc[i][e] = fmaf(xv[X_FIRST ? u : 0][i], wv[u][e], acc[i][e]);
  }
}

template <class T>
__device__ __forceinline__ void store_out(const gemv_args<T> &g, T *out, int64_t i, int64_t col,
                                          float sum) {
  T *o = out + i * g.n + col;
  float v = g.alpha * sum;
  if (g.beta != 0.0f)
    v = fmaf(g.beta, to_f32(*o), v);
  if (g.bias)
    v += to_f32(g.bias[col]);
  *o = from_f32<T>(v);
}

template <class T, int TM, bool VEC>
__global__ void __launch_bounds__(THREADS, min_blocks<T, TM>()) gemv_kernel(gemv_args<T> g) {
  KILN_KERNEL_BEGIN();
  constexpr int E = cols_per_lane<T, TM>(), COLS = 32 * E, U = rows_in_flight<T, TM>();
  /* Rows of x whose warp sums share memory at once (at most 32 KB). */
  constexpr int RR = TM * E <= 32 ? TM : 32 / E;
  static_assert(TM % RR == 0, "rows of x reduce in whole rounds");
  __shared__ float red[WARPS][RR][COLS];
  __shared__ int last;

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t span = blockIdx.x % g.spans, rest = blockIdx.x / g.spans;
  const int64_t split = rest % g.splits, batch = rest / g.splits;
  const int64_t c0 = span * COLS, group = batch * g.spans + span;
  const T *x = g.x + batch * g.stride_x, *w = g.w + batch * g.stride_w;
  T *out = g.out + batch * g.stride_o;
  /* This lane's columns: E adjacent ones (VEC; a lane wholly past n
   * reads the last E columns instead, never stored), or c0 + lane + 32 e. */
  int64_t col = VEC ? c0 + lane * E : c0 + lane;
  if (VEC && col >= g.n)
    col = g.n - E; /* n is a multiple of E */
  const int64_t k0 = split * g.slab, k1 = k0 + g.slab < g.k ? k0 + g.slab : g.k;

  /* acc[i][e] = sum over this warp's rows of the slab (U at a time, the
   * block's warps interleaved) of X(i, p) * b(p, column e). */
  float acc[TM][E] = {};
  int64_t p = k0 + warp * U;
  for (; p + U <= k1; p += WARPS * U)
    step<T, TM, E, U, VEC, false>(g, x, w, col, p, k1, acc);
  if (p < k1) /* fewer than U rows left for this warp */
    step<T, TM, E, U, VEC, true>(g, x, w, col, p, k1, acc);

  /* The warps' sums, RR rows of x at a time: out directly with one slab,
   * else this slab's partials. */
  const bool split_k = g.splits > 1;
  float *part = split_k ? g.part + (group * g.splits + split) * g.t * COLS : nullptr;
#pragma unroll
  for (int r0 = 0; r0 < TM; r0 += RR) {
    if (r0 > 0)
      __syncthreads(); /* the last round's readers are done */
#pragma unroll
    for (int r = 0; r < RR; r++)
#pragma unroll
      for (int e = 0; e < E; e++)
        red[warp][r][VEC ? lane * E + e : e * 32 + lane] = acc[r0 + r][e];
    __syncthreads();
    for (int f = threadIdx.x; f < RR * COLS; f += THREADS) {
      const int r = f / COLS, c = f % COLS;
      const int64_t i = r0 + r;
      if (i >= g.t || c0 + c >= g.n)
        continue;
      float sum = 0.0f;
#pragma unroll
      for (int wp = 0; wp < WARPS; wp++)
        sum += red[wp][r][c];
      if (split_k)
        part[i * COLS + c] = sum;
      else
        store_out(g, out, i, c0 + c, sum);
    }
  }
  if (!split_k)
    return;

  /* Publish this slab's partials, then count it in; the block that brings
   * the count to `splits` has every slab's partials visible. */
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0)
    last = atomicAdd(&g.count[group], 1u) == (unsigned int)(g.splits - 1);
  __syncthreads();
  if (!last)
    return;
  __threadfence();
  const float *all = g.part + group * g.splits * g.t * COLS;
  for (int f = threadIdx.x; f < g.t * COLS; f += THREADS) {
    const int64_t i = f / COLS, c = f % COLS;
    if (c0 + c >= g.n)
      continue;
    float sum = 0.0f;
    /* L2 only (__ldcg): other SMs wrote these; slab order, always. */
#pragma unroll 4
    for (int64_t s = 0; s < g.splits; s++)
      sum += __ldcg(all + s * g.t * COLS + f);
    store_out(g, out, i, c0 + c, sum);
  }
  if (threadIdx.x == 0)
    g.count[group] = 0; /* every slab has arrived: nothing else touches it now */
}

/* The workspace: counters first, then the partial sums. */
constexpr int64_t WS_COUNTERS = 16384;
constexpr int64_t WS_COUNTER_BYTES = WS_COUNTERS * (int64_t)sizeof(unsigned int);
constexpr int64_t WS_PART_FLOATS =
    (KILN_CUDA_GEMV_WORKSPACE_BYTES - WS_COUNTER_BYTES) / (int64_t)sizeof(float);
static_assert(WS_PART_FLOATS >= (int64_t)1 << 20, "room for 4 MiB of partial sums");

/* The narrowest span any instantiation uses (f32, or 16-bit at 16 rows). */
constexpr int64_t MIN_COLS = 32 * 4;

/* Splits k so that blocks (spans x batch x slabs) fill about
 * SPLIT_BLOCKS_PER_SM per SM, each warp keeping at least two steps of
 * rows, within the workspace. One slab where n alone fills the GPU. */
template <class T, int TM, bool VEC>
cudaError_t launch_gemv(gemv_args<T> &a, int64_t batch, int sm_count, void *workspace,
                        cudaStream_t stream) {
  constexpr int E = cols_per_lane<T, TM>(), COLS = 32 * E, U = rows_in_flight<T, TM>();
  a.spans = (a.n + COLS - 1) / COLS;
  const int64_t groups = batch * a.spans;
  const int env_blocks = kiln_cuda_env_gemv_blocks();
  const int64_t target = (int64_t)(env_blocks > 0 ? env_blocks : SPLIT_BLOCKS_PER_SM) *
                         (sm_count > 0 ? sm_count : 1);
  int64_t splits = 1;
  if (groups < target && groups <= WS_COUNTERS) {
    splits = target / groups;
    const int64_t min_slab = 2 * WARPS * U;
    const int64_t by_k = (a.k + min_slab - 1) / min_slab;
    const int64_t by_ws = WS_PART_FLOATS / (groups * a.t * COLS);
    splits = splits < by_k ? splits : by_k;
    splits = splits < by_ws ? splits : by_ws;
    splits = splits > 1 ? splits : 1;
  }
  a.slab = (a.k + splits - 1) / splits;
  a.splits = (a.k + a.slab - 1) / a.slab; /* no empty slab */
  if (groups > INT32_MAX / a.splits)
    return cudaErrorInvalidConfiguration;
  a.count = (unsigned int *)workspace;
  a.part = (float *)((char *)workspace + WS_COUNTER_BYTES);
  return launch(gemv_kernel<T, TM, VEC>, dim3((unsigned)(groups * a.splits)), dim3(THREADS), 0,
                stream, a);
}

/* VEC where every row of b (and every batch's b) starts E-aligned. */
template <class T, int TM>
cudaError_t launch_layout(gemv_args<T> &a, int64_t batch, int sm_count, void *workspace,
                          cudaStream_t stream) {
  constexpr int E = cols_per_lane<T, TM>();
  const bool vec = ((uintptr_t)a.w % (E * sizeof(T))) == 0 && a.n % E == 0 && a.stride_w % E == 0;
  return vec ? launch_gemv<T, TM, true>(a, batch, sm_count, workspace, stream)
             : launch_gemv<T, TM, false>(a, batch, sm_count, workspace, stream);
}

/* The kernel compiled for the smallest power of two of rows covering t. */
template <class T>
cudaError_t launch_rows(gemv_args<T> &a, int64_t batch, int sm_count, void *workspace,
                        cudaStream_t stream) {
  if (a.t <= 1)
    return launch_layout<T, 1>(a, batch, sm_count, workspace, stream);
  if (a.t <= 2)
    return launch_layout<T, 2>(a, batch, sm_count, workspace, stream);
  if (a.t <= 4)
    return launch_layout<T, 4>(a, batch, sm_count, workspace, stream);
  if (a.t <= 8)
    return launch_layout<T, 8>(a, batch, sm_count, workspace, stream);
  return launch_layout<T, 16>(a, batch, sm_count, workspace, stream);
}

} // namespace

static_assert(KILN_CUDA_GEMV_MAX_ROWS == 16, "the GEMV is compiled for 1, 2, 4, 8, 16 rows");

bool kiln_cuda_gemv_fits(const kiln_cuda_gemm *g) {
  if (!kiln_cuda_env_gemv()) /* KILN_CUDA_GEMV=0: timing the thin kernels instead */
    return false;
  if (g->transpose_b || g->m < 1 || g->m > KILN_CUDA_GEMV_MAX_ROWS || g->m > g->n || g->k < 1)
    return false;
  if (g->dtype != KILN_F32 && g->dtype != KILN_F16 && g->dtype != KILN_BF16)
    return false;
  return g->batch <= INT32_MAX / ((g->n + MIN_COLS - 1) / MIN_COLS); /* the grid, with one slab */
}

cudaError_t kiln_cuda_gemv(const kiln_cuda_gemm *g, int sm_count, void *workspace,
                           cudaStream_t stream) {
  if (!kiln_cuda_gemv_fits(g))
    return cudaErrorInvalidValue;
  return with_dtype(g->dtype, [&](auto zero) {
    using T = decltype(zero);
    gemv_args<T> a = {};
    a.x = (const T *)g->a;
    a.w = (const T *)g->b;
    a.bias = (const T *)g->bias;
    a.out = (T *)g->c;
    a.t = g->m;
    a.n = g->n;
    a.k = g->k;
    a.x_si = g->transpose_a ? 1 : g->k; /* a [m, k], or [k, m] transposed */
    a.x_sk = g->transpose_a ? g->m : 1;
    a.stride_x = g->stride_a;
    a.stride_w = g->stride_b;
    a.stride_o = g->stride_c;
    a.alpha = g->alpha;
    a.beta = g->beta;
    return launch_rows<T>(a, g->batch, sm_count, workspace, stream);
  });
}

kiln_status kiln_cuda_gemv_init(kiln_cuda *st, const char *fn) {
  KILN_CUDA_TRY(kiln_cuda_check(cudaMallocFromPoolAsync(&st->gemv_workspace,
                                                        KILN_CUDA_GEMV_WORKSPACE_BYTES, st->pool,
                                                        st->stream),
                                fn, "cudaMallocFromPoolAsync (GEMV workspace)"));
  /* The counters start at 0; each launch leaves them at 0. */
  return kiln_cuda_check(
      cudaMemsetAsync(st->gemv_workspace, 0, (size_t)WS_COUNTER_BYTES, st->stream), fn,
      "cudaMemsetAsync (GEMV workspace)");
}
