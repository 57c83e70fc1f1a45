/*
 * kiln's own kernels for matmuls too small for cuBLASLt's per-call cost:
 * a tile kernel for small products of any layout, and the k == 0 fill.
 *
 * The tile kernel is built for latency, not throughput: one 16x16 output
 * tile per block, one output per thread, k walked in stages of 64 whose
 * global loads for stage s+1 are in flight while stage s is multiplied out
 * of shared memory. A 64x64x64 product is one stage: one round trip to
 * memory and 64 FMAs per thread.
 */
#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "cuda_gemm.h"

using namespace kiln_dev;

namespace {

constexpr int TILE = 16;                         /* output tile TILE x TILE */
constexpr int KC = 64;                           /* k per stage */
constexpr int THREADS = TILE * TILE;             /* one output each */
constexpr int LOADS = TILE * KC / THREADS;       /* elements of a (and of b) per thread per stage */
static_assert(TILE * KC % THREADS == 0, "a stage must split evenly over the threads");

template <class T> struct small_args {
  const T *a, *b, *bias;
  T *c;
  int64_t m, n, k;
  int64_t a_si, a_sp; /* op(a)(i, p) = a[i * a_si + p * a_sp] */
  int64_t b_sp, b_sj; /* op(b)(p, j) = b[p * b_sp + j * b_sj] */
  int64_t stride_a, stride_b, stride_c;
  int64_t tiles_m, tiles_n;
  float alpha, beta;
};

/* Where element e of a stage's tile lies. Consecutive threads take
 * consecutive addresses of whichever index is contiguous in memory. */
__device__ __forceinline__ void a_coords(bool k_fast, int e, int &i, int &p) {
  if (k_fast) {
    i = e / KC;
    p = e % KC;
  } else {
    i = e % TILE;
    p = e / TILE;
  }
}
__device__ __forceinline__ void b_coords(bool j_fast, int e, int &p, int &j) {
  if (j_fast) {
    j = e % TILE;
    p = e / TILE;
  } else {
    p = e % KC;
    j = e / KC;
  }
}

template <class T>
__device__ __forceinline__ void load_stage(const small_args<T> &g, const T *a, const T *b,
                                           int64_t i0, int64_t j0, int64_t p0, float (&ra)[LOADS],
                                           float (&rb)[LOADS]) {
  const bool a_k_fast = g.a_sp == 1, b_j_fast = g.b_sj == 1;
#pragma unroll
  for (int r = 0; r < LOADS; r++) {
    int e = threadIdx.x + r * THREADS, i, p, j, q;
    a_coords(a_k_fast, e, i, p);
    b_coords(b_j_fast, e, q, j);
    int64_t gi = i0 + i, gp = p0 + p, gq = p0 + q, gj = j0 + j;
    ra[r] = gi < g.m && gp < g.k ? to_f32(a[gi * g.a_si + gp * g.a_sp]) : 0.0f;
    rb[r] = gq < g.k && gj < g.n ? to_f32(b[gq * g.b_sp + gj * g.b_sj]) : 0.0f;
  }
}

template <class T>
__global__ void __launch_bounds__(THREADS) gemm_small_kernel(small_args<T> g) {
  KILN_KERNEL_BEGIN();
  /* One word of padding per row keeps the transposing stores conflict-free. */
  __shared__ float as[KC][TILE + 1]; /* as[p][i] = op(a)(i0 + i, p0 + p) */
  __shared__ float bs[KC][TILE + 1]; /* bs[p][j] = op(b)(p0 + p, j0 + j) */
  int64_t block = blockIdx.x;
  const int64_t tn = block % g.tiles_n;
  block /= g.tiles_n;
  const int64_t tm = block % g.tiles_m, batch = block / g.tiles_m;
  const T *a = g.a + batch * g.stride_a, *b = g.b + batch * g.stride_b;
  const int64_t i0 = tm * TILE, j0 = tn * TILE;
  const int ty = threadIdx.x / TILE, tx = threadIdx.x % TILE;
  const bool a_k_fast = g.a_sp == 1, b_j_fast = g.b_sj == 1;

  float ra[LOADS], rb[LOADS], acc = 0.0f;
  load_stage(g, a, b, i0, j0, 0, ra, rb);
  for (int64_t p0 = 0; p0 < g.k; p0 += KC) {
#pragma unroll
    for (int r = 0; r < LOADS; r++) {
      int e = threadIdx.x + r * THREADS, i, p, j, q;
      a_coords(a_k_fast, e, i, p);
      b_coords(b_j_fast, e, q, j);
      as[p][i] = ra[r];
      bs[q][j] = rb[r];
    }
    __syncthreads();
    if (p0 + KC < g.k)
      load_stage(g, a, b, i0, j0, p0 + KC, ra, rb);
#pragma unroll 16
    for (int p = 0; p < KC; p++)
      acc = fmaf(as[p][ty], bs[p][tx], acc);
    __syncthreads();
  }

  const int64_t i = i0 + ty, j = j0 + tx;
  if (i >= g.m || j >= g.n)
    return;
  T *c = g.c + batch * g.stride_c + i * g.n + j;
  float v = g.alpha * acc;
  if (g.beta != 0.0f)
    v = fmaf(g.beta, to_f32(*c), v);
  if (g.bias)
    v += to_f32(g.bias[j]);
  *c = from_f32<T>(v);
}

/* c = beta * c + bias over all batch * m * n elements of c. */
template <class T>
__global__ void gemm_fill_kernel(T *c, const T *bias, int64_t total, int64_t n, float beta) {
  KILN_KERNEL_BEGIN();
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total;
       e += (int64_t)gridDim.x * blockDim.x) {
    float v = beta != 0.0f ? beta * to_f32(c[e]) : 0.0f;
    if (bias)
      v += to_f32(bias[e % n]);
    c[e] = from_f32<T>(v);
  }
}

int64_t tiles(int64_t extent) { return (extent + TILE - 1) / TILE; }

} // namespace

bool kiln_cuda_gemm_small_fits(const kiln_cuda_gemm *g) {
  int64_t per_batch = tiles(g->m) * tiles(g->n);
  return per_batch <= INT32_MAX / g->batch;
}

cudaError_t kiln_cuda_gemm_small(const kiln_cuda_gemm *g, cudaStream_t stream) {
  return with_dtype(g->dtype, [&](auto zero) {
    using T = decltype(zero);
    small_args<T> s;
    s.a = (const T *)g->a;
    s.b = (const T *)g->b;
    s.bias = (const T *)g->bias;
    s.c = (T *)g->c;
    s.m = g->m;
    s.n = g->n;
    s.k = g->k;
    s.a_si = g->transpose_a ? 1 : g->k;
    s.a_sp = g->transpose_a ? g->m : 1;
    s.b_sp = g->transpose_b ? 1 : g->n;
    s.b_sj = g->transpose_b ? g->k : 1;
    s.stride_a = g->stride_a;
    s.stride_b = g->stride_b;
    s.stride_c = g->stride_c;
    s.tiles_m = tiles(g->m);
    s.tiles_n = tiles(g->n);
    s.alpha = g->alpha;
    s.beta = g->beta;
    dim3 grid((unsigned)(s.tiles_m * s.tiles_n * g->batch));
    return launch(gemm_small_kernel<T>, grid, dim3(THREADS), 0, stream, s);
  });
}

cudaError_t kiln_cuda_gemm_fill(const kiln_cuda_gemm *g, int sm_count, cudaStream_t stream) {
  const int threads = 256;
  int64_t total = g->batch * g->m * g->n;
  int64_t blocks = (total + threads - 1) / threads;
  if (blocks > (int64_t)sm_count * 16) /* enough to fill the GPU; the loop does the rest */
    blocks = (int64_t)sm_count * 16;
  return with_dtype(g->dtype, [&](auto zero) {
    using T = decltype(zero);
    return launch(gemm_fill_kernel<T>, dim3((unsigned)blocks), dim3(threads), 0, stream,
                  (T *)g->c, (const T *)g->bias, total, g->n, g->beta);
  });
}

cudaError_t kiln_cuda_probe_kernels(void) {
  cudaFuncAttributes attr;
  return cudaFuncGetAttributes(&attr, gemm_fill_kernel<float>);
}
