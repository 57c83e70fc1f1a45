/*
 * kiln's kernels for thin matmuls: t = min(m, n) <= 16 rows on one side,
 * so each element of the long operand W is used only t times and the
 * product is bound by reading W once (decode GEMV, LoRA rank products).
 *
 * Either side may be the thin one. With X the thin operand ([t, k]) and W
 * the long one ([k, L]), out(i, l) = sum_p X(i, p) W(p, l) covers both:
 * m thin is X = op(a), W = op(b); n thin is out^T = op(b)^T op(a)^T, so
 * X = op(b)^T, W = op(a)^T, and out is written transposed.
 *
 * Two kernels, by which index of W is contiguous in memory:
 *   L-major (W rows along l, e.g. b [k, n]): threads take 16-byte vectors
 *     along l and split k; partial sums meet in shuffles and shared memory.
 *     X values are scalars that a whole warp shares (broadcast loads).
 *   k-major (W rows along k, e.g. a PyTorch Linear weight [n, k]): a warp
 *     takes W_ROWS values of l, its lanes 16-byte vectors along k, and
 *     reduces with shuffles. Each X vector it loads serves W_ROWS rows of
 *     W, which keeps X's traffic through L1 below t / W_ROWS times W's.
 *     X is read as 16-byte vectors, from either layout a caller has: rows
 *     along k (x @ W^T, the Linear case) or along t (b [k, t], as in
 *     x @ A for a LoRA A of rank t).
 *
 * The k-major kernel also runs a whole LoRA linear in one launch (rows of
 * x at most 16): each block first computes s (x a^T) for every row into
 * shared memory, then adds its rank sum into each lane's partial sums of
 * x W^T before the shuffle reduction, so b is just more of k. Every block
 * reads all of a ([rank, in]) from L2 for this; LORA_MAX_RANK bounds it.
 */
#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "cuda_gemm.h"

using namespace kiln_dev;

namespace {

constexpr int THREADS = 256;
constexpr int WARPS = THREADS / 32;
/* L-major: 16-byte column vectors per block. Each row of W is read in
 * 32-byte pieces (one sector), which keeps twice as many blocks as 4 would
 * for decode-sized W (256 for 4096 bf16 columns); measure 2 against 4. */
constexpr int L_COLS = 2;
constexpr int L_SLICES = THREADS / L_COLS; /* L-major: k rows a block reads per step */
/* k-major: values of l per warp. More rows reuse each X vector more (less
 * L1 traffic), fewer make more warps for a short W: below W_ROWS_MIN_LEN
 * values of l, four per warp would leave most SMs idle (128 x 8 x 512 ran
 * on 4 blocks, 11 us), so each warp takes one. */
constexpr int W_ROWS = 4;
constexpr int64_t W_ROWS_MIN_LEN = 4096;

/* Blocks per SM that the register budget must allow. Without a minimum,
 * ptxas keeps registers low for occupancy by issuing each load right before
 * its use, leaving one or two in flight per thread; a bandwidth-bound loop
 * wants all of a step's loads issued first. Two blocks cap a thread at 128
 * registers; the tiles with many rows of X need more and get one block. */
template <class T, int TM> constexpr int L_MIN_BLOCKS = TM * VW<T> >= 64 ? 1 : 2;
template <int TM> constexpr int K_MIN_BLOCKS = TM >= 8 ? 1 : 2;

/* L-major: W vectors in flight per thread. A step holds U vectors of W,
 * U * TM values of X and the TM * V accumulators; about 96 registers of
 * them leave room for addresses under the 128 cap. */
__host__ __device__ constexpr int l_unroll(int tm, int v) {
  const int u = (96 - tm * v) / (v + tm);
  return u >= 8 ? 8 : u >= 4 ? 4 : u >= 2 ? 2 : 1;
}

template <class T> struct thin_args {
  const T *x, *w, *bias;
  T *out;
  int64_t t, len, k;
  int64_t x_si, x_sk; /* X(i, p) = x[i * x_si + p * x_sk] */
  int64_t w_sk, w_sl; /* W(p, l) = w[p * w_sk + l * w_sl] */
  int64_t o_si, o_sl; /* out(i, l) = out[i * o_si + l * o_sl] */
  bool bias_on_l;     /* bias[l] (m thin) or bias[i] (n thin) */
  int64_t stride_x, stride_w, stride_o;
  int64_t tiles; /* blocks per batch */
  float alpha, beta;
  /* LoRA (thin_k_kernel<..., true>): out(i, l) also gets
   * lora_scale * sum_r (X a^T)(i, r) lora_b(l, r); a [rank, k], b [len, rank]. */
  const T *lora_a, *lora_b;
  int rank;
  float lora_scale;
};

template <class T>
__device__ __forceinline__ void store_out(const thin_args<T> &g, int64_t batch, int64_t i,
                                          int64_t l, float sum) {
  T *o = g.out + batch * g.stride_o + i * g.o_si + l * g.o_sl;
  float v = g.alpha * sum;
  if (g.beta != 0.0f)
    v = fmaf(g.beta, to_f32(*o), v);
  if (g.bias)
    v += to_f32(g.bias[g.bias_on_l ? l : i]);
  *o = from_f32<T>(v);
}

/* Rows of X past t are read as row t - 1: every load stays in bounds and
 * the loop has no branch to keep the compiler from batching its loads. The
 * sums of those rows are never stored. */
template <class T> __device__ __forceinline__ int64_t x_row(const thin_args<T> &g, int i) {
  return i < g.t ? i : g.t - 1;
}

/* ------------------------------------------------------------ L-major */

/* acc[i][:] += X(i, p) * w[:]. */
template <class T, int TM>
__device__ __forceinline__ void axpy_rows(const thin_args<T> &g, const T *x, int64_t p,
                                          const float (&w)[VW<T>], float (&acc)[TM][VW<T>]) {
#pragma unroll
  for (int i = 0; i < TM; i++) {
    float xv = to_f32(x[x_row(g, i) * g.x_si + p * g.x_sk]);
#pragma unroll
    for (int v = 0; v < VW<T>; v++)
      acc[i][v] = fmaf(xv, w[v], acc[i][v]);
  }
}

template <class T, int TM>
__global__ void __launch_bounds__(THREADS, L_MIN_BLOCKS<T, TM>) thin_l_kernel(thin_args<T> g) {
  KILN_KERNEL_BEGIN();
  constexpr int V = VW<T>;
  constexpr int U = l_unroll(TM, V);
  __shared__ float red[WARPS][TM][L_COLS * V];
  const int64_t tile = blockIdx.x % g.tiles, batch = blockIdx.x / g.tiles;
  const T *x = g.x + batch * g.stride_x, *w = g.w + batch * g.stride_w;
  const int col = threadIdx.x % L_COLS, slice = threadIdx.x / L_COLS;
  const int64_t l0 = (tile * L_COLS + col) * V;

  float acc[TM][V] = {};
  if (l0 < g.len) {
    const T *wl = w + l0;
    int64_t p = slice;
    for (; p + (U - 1) * L_SLICES < g.k; p += U * L_SLICES) {
      float wv[U][V];
#pragma unroll
      for (int u = 0; u < U; u++)
        load16(wl + (p + u * L_SLICES) * g.w_sk, wv[u]);
#pragma unroll
      for (int u = 0; u < U; u++)
        axpy_rows<T, TM>(g, x, p + u * L_SLICES, wv[u], acc);
    }
    for (; p < g.k; p += L_SLICES) {
      float wv[V];
      load16(wl + p * g.w_sk, wv);
      axpy_rows<T, TM>(g, x, p, wv, acc);
    }
  }

  /* Lanes that differ only above the column bits hold the same columns. */
#pragma unroll
  for (int o = L_COLS; o < 32; o <<= 1)
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
      for (int v = 0; v < V; v++)
        acc[i][v] += __shfl_xor_sync(0xffffffffu, acc[i][v], o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane < L_COLS)
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
      for (int v = 0; v < V; v++)
        red[warp][i][lane * V + v] = acc[i][v];
  __syncthreads();
  for (int e = threadIdx.x; e < g.t * L_COLS * V; e += THREADS) {
    const int i = e / (L_COLS * V), c = e % (L_COLS * V);
    const int64_t l = tile * L_COLS * V + c;
    if (l >= g.len)
      continue;
    float sum = 0.0f;
#pragma unroll
    for (int wp = 0; wp < WARPS; wp++)
      sum += red[wp][i][c];
    store_out(g, batch, i, l, sum);
  }
}

/* ------------------------------------------------------------ k-major */

/* How X lies in memory, for the k-major kernel. */
enum class x_layout {
  rows_along_k, /* X(i, p) at i * x_si + p: vector = 16 bytes of one row */
  rows_along_t  /* X(i, p) at p * t + i, t == TM: vector = 16 bytes of the [V, t] block */
};

/* xs[i][v] = X(i, p + v) for i < TM. */
template <class T, int TM, x_layout XL>
__device__ __forceinline__ void load_x(const thin_args<T> &g, const T *x, int64_t p,
                                       float (&xs)[TM][VW<T>]) {
  constexpr int V = VW<T>;
  if (XL == x_layout::rows_along_k) {
#pragma unroll
    for (int i = 0; i < TM; i++)
      load16(x + x_row(g, i) * g.x_si + p, xs[i]);
  } else {
    /* Rows p .. p + V - 1 of the [k, t] matrix: V * t elements in a row,
     * exactly t vectors, element f = v * t + i. */
#pragma unroll
    for (int u = 0; u < TM; u++) {
      float part[V];
      load16(x + p * TM + u * V, part);
#pragma unroll
      for (int e = 0; e < V; e++)
        xs[(u * V + e) % TM][(u * V + e) / TM] = part[e];
    }
  }
}

/* acc[r][i] += X(i, p .. p + V - 1) . W(p .. p + V - 1, l0 + r) for U
 * consecutive steps of k, all loads issued before the first FMA. */
template <class T, int TM, x_layout XL, int WR, int U>
__device__ __forceinline__ void k_steps(const thin_args<T> &g, const T *x, const T *const (&w)[WR],
                                        int64_t p, float (&acc)[WR][TM]) {
  constexpr int V = VW<T>, STEP = 32 * V;
  float wv[U][WR][V], xs[U][TM][V];
#pragma unroll
  for (int u = 0; u < U; u++) {
#pragma unroll
    for (int r = 0; r < WR; r++)
      load16(w[r] + p + u * STEP, wv[u][r]);
    load_x<T, TM, XL>(g, x, p + u * STEP, xs[u]);
  }
#pragma unroll
  for (int u = 0; u < U; u++)
#pragma unroll
    for (int r = 0; r < WR; r++)
#pragma unroll
      for (int i = 0; i < TM; i++)
#pragma unroll
        for (int v = 0; v < V; v++)
          acc[r][i] = fmaf(xs[u][i][v], wv[u][r][v], acc[r][i]);
}

/* acc[r][i] = X(i, :) . W(:, r) over all of k, lanes splitting k. */
template <class T, int TM, x_layout XL, int WR>
__device__ __forceinline__ void k_dots(const thin_args<T> &g, const T *x, const T *const (&w)[WR],
                                       float (&acc)[WR][TM]) {
  constexpr int U = TM * WR <= 8 ? 2 : 1; /* steps of k in flight per lane */
  constexpr int STEP = 32 * VW<T>;        /* elements of k a warp covers per vector */
  int64_t p = (threadIdx.x % 32) * VW<T>;
  for (; p + (U - 1) * STEP < g.k; p += U * STEP)
    k_steps<T, TM, XL, WR, U>(g, x, w, p, acc);
  for (; p < g.k; p += STEP)
    k_steps<T, TM, XL, WR, 1>(g, x, w, p, acc);
}

/* LoRA: the larger rank a fused launch takes. Each block rereads all of a,
 * and shared memory holds TM x LORA_MAX_RANK sums. */
constexpr int LORA_MAX_RANK = 64;

/* xa[i][r] = lora_scale * X(i, :) . a(r, :), one row of a per warp in turn;
 * every thread of the block returns after the barrier. */
template <class T, int TM>
__device__ __forceinline__ void lora_down(const thin_args<T> &g, const T *x,
                                          float (&xa)[TM][LORA_MAX_RANK]) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r = warp; r < g.rank; r += WARPS) {
    const T *const a[1] = {g.lora_a + r * g.k};
    float acc[1][TM] = {};
    k_dots<T, TM, x_layout::rows_along_k, 1>(g, x, a, acc);
#pragma unroll
    for (int i = 0; i < TM; i++) {
      const float sum = warp_reduce(acc[0][i], op_sum{});
      if (lane == 0)
        xa[i][r] = g.lora_scale * sum;
    }
  }
  __syncthreads();
}

/* acc[r][i] += this lane's share (ranks lane, lane + 32, ...) of
 * xa[i][:] . lora_b(l0 + r, :); the warp's reduction sums the shares. */
template <class T, int TM, int WR>
__device__ __forceinline__ void lora_up(const thin_args<T> &g, const float (&xa)[TM][LORA_MAX_RANK],
                                        int64_t l0, float (&acc)[WR][TM]) {
  for (int q = threadIdx.x % 32; q < g.rank; q += 32)
#pragma unroll
    for (int r = 0; r < WR; r++) {
      const int64_t l = l0 + r < g.len ? l0 + r : g.len - 1;
      const float b = to_f32(g.lora_b[l * g.rank + q]);
#pragma unroll
      for (int i = 0; i < TM; i++)
        acc[r][i] = fmaf(xa[i][q], b, acc[r][i]);
    }
}

template <class T, int TM, x_layout XL, int WR, bool LORA>
__global__ void __launch_bounds__(THREADS, K_MIN_BLOCKS<TM>) thin_k_kernel(thin_args<T> g) {
  KILN_KERNEL_BEGIN();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t tile = blockIdx.x % g.tiles, batch = blockIdx.x / g.tiles;
  const int64_t l0 = (tile * WARPS + warp) * WR;
  const T *x = g.x + batch * g.stride_x;
  __shared__ float xa[LORA ? TM : 1][LORA ? LORA_MAX_RANK : 1];
  if constexpr (LORA)
    lora_down<T, TM>(g, x, xa);
  if (l0 >= g.len) /* whole warps leave; nothing below synchronises the block */
    return;
  const T *w[WR];
#pragma unroll
  for (int r = 0; r < WR; r++) /* rows past len repeat the last; never stored */
    w[r] = g.w + batch * g.stride_w + (l0 + r < g.len ? l0 + r : g.len - 1) * g.w_sl;

  float acc[WR][TM] = {};
  k_dots<T, TM, XL, WR>(g, x, w, acc);
  if constexpr (LORA)
    lora_up<T, TM, WR>(g, xa, l0, acc);
#pragma unroll
  for (int r = 0; r < WR; r++)
#pragma unroll
    for (int i = 0; i < TM; i++) {
      const float sum = warp_reduce(acc[r][i], op_sum{});
      if (lane == (r * TM + i) % 32 && i < g.t && l0 + r < g.len)
        store_out(g, batch, i, l0 + r, sum);
    }
}

/* --------------------------------------------------------------- host */

enum class thin_kind { none, l_major, k_major_rows_along_k, k_major_rows_along_t };

/* The thin problem of g, in the X / W / out terms above. */
struct thin_map {
  int64_t t, len;
  const void *x, *w;
  int64_t x_si, x_sk, w_sk, w_sl, o_si, o_sl;
  int64_t stride_x, stride_w;
  bool bias_on_l;
};

thin_map map_thin(const kiln_cuda_gemm *g) {
  thin_map t;
  const int64_t m = g->m, n = g->n, k = g->k;
  if (m <= n) { /* X = op(a) [m, k], W = op(b) [k, n] */
    t.t = m;
    t.len = n;
    t.x = g->a;
    t.x_si = g->transpose_a ? 1 : k;
    t.x_sk = g->transpose_a ? m : 1;
    t.w = g->b;
    t.w_sk = g->transpose_b ? 1 : n;
    t.w_sl = g->transpose_b ? k : 1;
    t.o_si = n;
    t.o_sl = 1;
    t.stride_x = g->stride_a;
    t.stride_w = g->stride_b;
    t.bias_on_l = true;
  } else { /* X = op(b)^T [n, k], W = op(a)^T [k, m] */
    t.t = n;
    t.len = m;
    t.x = g->b;
    t.x_si = g->transpose_b ? k : 1;
    t.x_sk = g->transpose_b ? 1 : n;
    t.w = g->a;
    t.w_sk = g->transpose_a ? m : 1;
    t.w_sl = g->transpose_a ? 1 : k;
    t.o_si = 1;
    t.o_sl = n;
    t.stride_x = g->stride_b;
    t.stride_w = g->stride_a;
    t.bias_on_l = false;
  }
  return t;
}

/* The row count compiled for t: the smallest power of two covering it. */
int64_t tm_of(int64_t t) {
  int64_t tm = 1;
  while (tm < t)
    tm *= 2;
  return tm;
}

/* Which kernel takes this problem: W, and X for the k-major kernel, must
 * be readable as aligned 16-byte vectors in every row and every batch. */
thin_kind kind_of(const kiln_cuda_gemm *g, const thin_map &t) {
  if (t.t > KILN_CUDA_THIN_LIMIT)
    return thin_kind::none;
  const int64_t vw = 16 / (int64_t)kiln_dtype_size(g->dtype);
  const bool w_ok = aligned16(t.w) && t.stride_w % vw == 0;
  if (w_ok && t.w_sl == 1 && t.w_sk % vw == 0 && t.len % vw == 0)
    return thin_kind::l_major;
  if (!w_ok || t.w_sk != 1 || t.w_sl % vw != 0 || g->k % vw != 0)
    return thin_kind::none;
  if (!aligned16(t.x) || t.stride_x % vw != 0)
    return thin_kind::none;
  if (t.x_sk == 1 && t.x_si % vw == 0)
    return thin_kind::k_major_rows_along_k;
  if (t.x_si == 1 && t.x_sk == t.t && t.t == tm_of(t.t))
    return thin_kind::k_major_rows_along_t;
  return thin_kind::none;
}

/* The k-major kernel for X's layout, with WR values of l per warp. A LoRA
 * always has X's rows along k (x [rows, in]). */
template <class T, int TM, int WR, bool LORA>
cudaError_t launch_k_major(thin_kind kind, const thin_args<T> &a, dim3 grid, cudaStream_t stream) {
  if (LORA || kind == thin_kind::k_major_rows_along_k)
    return launch(thin_k_kernel<T, TM, x_layout::rows_along_k, WR, LORA>, grid, dim3(THREADS), 0,
                  stream, a);
  return launch(thin_k_kernel<T, TM, x_layout::rows_along_t, WR, false>, grid, dim3(THREADS), 0,
                stream, a);
}

template <class T, int TM, bool LORA>
cudaError_t launch_kind(thin_kind kind, thin_args<T> &a, int64_t batch, cudaStream_t stream) {
  if (kind == thin_kind::none)
    return cudaErrorInvalidValue;
  const bool wide = a.len >= W_ROWS_MIN_LEN;
  const int64_t per_block = kind == thin_kind::l_major ? (int64_t)L_COLS * VW<T>
                            : wide                     ? WARPS * W_ROWS
                                                       : WARPS;
  a.tiles = (a.len + per_block - 1) / per_block;
  if (a.tiles > INT32_MAX / batch)
    return cudaErrorInvalidConfiguration;
  const dim3 grid((unsigned)(a.tiles * batch));
  if (kind == thin_kind::l_major)
    return launch(thin_l_kernel<T, TM>, grid, dim3(THREADS), 0, stream, a);
  return wide ? launch_k_major<T, TM, W_ROWS, LORA>(kind, a, grid, stream)
              : launch_k_major<T, TM, 1, LORA>(kind, a, grid, stream);
}

/* The kernel compiled for a.t rows of X. */
template <bool LORA, class T>
cudaError_t launch_rows(thin_kind kind, thin_args<T> &a, int64_t batch, cudaStream_t stream) {
  switch (tm_of(a.t)) {
  case 1: return launch_kind<T, 1, LORA>(kind, a, batch, stream);
  case 2: return launch_kind<T, 2, LORA>(kind, a, batch, stream);
  case 4: return launch_kind<T, 4, LORA>(kind, a, batch, stream);
  case 8: return launch_kind<T, 8, LORA>(kind, a, batch, stream);
  default: return launch_kind<T, 16, LORA>(kind, a, batch, stream);
  }
}

} // namespace

static_assert(KILN_CUDA_THIN_LIMIT == 16, "thin kernels are compiled for 1, 2, 4, 8, 16 rows");

bool kiln_cuda_gemm_thin_fits(const kiln_cuda_gemm *g) {
  return kind_of(g, map_thin(g)) != thin_kind::none;
}

cudaError_t kiln_cuda_gemm_thin(const kiln_cuda_gemm *g, cudaStream_t stream) {
  const thin_map t = map_thin(g);
  const thin_kind kind = kind_of(g, t);
  return with_dtype(g->dtype, [&](auto zero) {
    using T = decltype(zero);
    thin_args<T> a;
    a.x = (const T *)t.x;
    a.w = (const T *)t.w;
    a.bias = (const T *)g->bias;
    a.out = (T *)g->c;
    a.t = t.t;
    a.len = t.len;
    a.k = g->k;
    a.x_si = t.x_si;
    a.x_sk = t.x_sk;
    a.w_sk = t.w_sk;
    a.w_sl = t.w_sl;
    a.o_si = t.o_si;
    a.o_sl = t.o_sl;
    a.bias_on_l = t.bias_on_l;
    a.stride_x = t.stride_x;
    a.stride_w = t.stride_w;
    a.stride_o = g->stride_c;
    a.alpha = g->alpha;
    a.beta = g->beta;
    return launch_rows<false>(kind, a, g->batch, stream);
  });
}

/* The LoRA's base product x w^T as a thin problem: m thin, w in the Linear
 * layout, so k-major with X's rows along k. */
static kiln_cuda_gemm base_of(const kiln_cuda_lora_gemm *l) {
  kiln_cuda_gemm g = {};
  g.dtype = l->dtype;
  g.m = l->rows;
  g.n = l->n;
  g.k = l->in;
  g.batch = 1;
  g.transpose_b = true;
  g.a = l->x;
  g.b = l->w;
  g.bias = l->bias;
  g.c = l->out;
  g.alpha = 1.0f;
  return g;
}

bool kiln_cuda_lora_thin_fits(const kiln_cuda_lora_gemm *l) {
  const kiln_cuda_gemm g = base_of(l);
  const int64_t vw = 16 / (int64_t)kiln_dtype_size(l->dtype);
  return l->rows <= KILN_CUDA_THIN_LIMIT && l->rank <= LORA_MAX_RANK && l->in % vw == 0 &&
         aligned16(l->a) && kind_of(&g, map_thin(&g)) == thin_kind::k_major_rows_along_k;
}

cudaError_t kiln_cuda_lora_thin(const kiln_cuda_lora_gemm *l, cudaStream_t stream) {
  if (!kiln_cuda_lora_thin_fits(l))
    return cudaErrorInvalidValue;
  return with_dtype(l->dtype, [&](auto zero) {
    using T = decltype(zero);
    thin_args<T> a = {};
    a.x = (const T *)l->x;
    a.w = (const T *)l->w;
    a.bias = (const T *)l->bias;
    a.out = (T *)l->out;
    a.t = l->rows;
    a.len = l->n;
    a.k = l->in;
    a.x_si = l->in;
    a.x_sk = 1;
    a.w_sk = 1;
    a.w_sl = l->in;
    a.o_si = l->n;
    a.o_sl = 1;
    a.bias_on_l = true;
    a.alpha = 1.0f;
    a.lora_a = (const T *)l->a;
    a.lora_b = (const T *)l->b;
    a.rank = (int)l->rank;
    a.lora_scale = l->scale;
    return launch_rows<true>(thin_kind::k_major_rows_along_k, a, 1, stream);
  });
}
