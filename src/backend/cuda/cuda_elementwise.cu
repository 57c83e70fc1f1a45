/*
 * The elementwise ops on the GPU: gelu, silu, scale (unary) and add, mul,
 * swiglu (binary, b broadcast over a's leading dims). Memory-bound, so the
 * kernels are about traffic: 16-byte loads and stores where every pointer
 * allows them, UNROLL vectors in flight per thread, and one pass: each
 * block takes its own chunk of THREADS * UNROLL vectors and exits. Math in
 * f32, one rounding.
 */
#include "cuda_backend.h"

#include <cfloat>
#include "cuda_common.cuh"

using namespace kiln_dev;

namespace {

/* Vectors each thread loads before it computes. Measured on the H100 at
 * 16384 x 4096 (bench/results/h100-2026-11-25-b/elementwise_structure.txt):
 * one pass of chunks reaches the device-to-device copy rate (f32 gelu
 * 2.94 TB/s against memcpy's 2.93), where a grid of resident blocks
 * striding over the tensor held every op at 2.6-2.7; two vectors, not one
 * or four, suited bf16 gelu while erfcf made it compute-bound (2.15 TB/s
 * against 1.95 and 2.14). */
constexpr int UNROLL = 2;
constexpr int THREADS = 256;

/* -inf as -FLT_MAX, so v / (1 + e^-v) at v = -inf is the limit -0 (as
 * the CPU's times_sigmoid, kiln.h), not -inf / inf = NaN; NaN stays NaN. */
__device__ __forceinline__ float finite_below(float v) { return v < -FLT_MAX ? -FLT_MAX : v; }

/* silu(v) = v * sigmoid(v); expf (not __expf) keeps it accurate for large |v|. */
__device__ __forceinline__ float silu(float v) {
  v = finite_below(v);
  return v / (1.0f + expf(-v));
}

/* e^(u^2 / 2) Q(u) for 0 <= u <= 14, Q(u) = erfc(u / sqrt 2) / 2 the
 * normal upper tail: the CPU's fitted rational (cpu_rows.h,
 * normal_tail_scaled), here in f32. Its coefficients are positive and its
 * denominator at least 1, so the fast division is safe. */
__device__ __forceinline__ float normal_tail_scaled(float u) {
  float p = 4.0116648898e-3f;
  p = fmaf(p, u, 3.9926338819e-2f);
  p = fmaf(p, u, 1.8113445756e-1f);
  p = fmaf(p, u, 4.3545239568e-1f);
  p = fmaf(p, u, 5.0000000245e-1f);
  float r = 1.0055607159e-2f;
  r = fmaf(r, u, 1.0008795931e-1f);
  r = fmaf(r, u, 4.6392561339e-1f);
  r = fmaf(r, u, 1.1937663747e+0f);
  r = fmaf(r, u, 1.6687897052e+0f);
  r = fmaf(r, u, 1.0f);
  return __fdividef(p, r);
}

/* GELU (erf) as the CPU computes it: x Q(-x) for x <= 0 and x - x Q(x)
 * above, so neither side cancels, with e^(-u^2 / 2) from u^2 split into
 * its f32 value and the FMA's exact remainder. Branch-free, and cheaper
 * than erfcf, which held bf16 at 2.0 TB/s (compute-bound) on the H100.
 * x is clamped to [-14, 14], where the tail is 0 once flushed; NaN stays NaN. */
__device__ __forceinline__ float gelu_erf(float x) {
  const float c = x < -14.0f ? -14.0f : x > 14.0f ? 14.0f : x;
  const float u = fabsf(c), hi = u * u, lo = fmaf(u, u, -hi);
  /* Under FLT_MIN the CPU's exp gives 0; a subnormal here would leave
   * -1e-43 where the CPU (and the limit at -inf) gives -0. */
  const float e = expf(-0.5f * hi), e_flushed = e < FLT_MIN ? 0.0f : e;
  const float cq = c * (e_flushed * fmaf(-0.5f, lo, 1.0f)) * normal_tail_scaled(u);
  return x <= 0.0f ? cq : x - cq;
}

/* GELU (erf) for 16-bit results: gelu_erf's form with a shorter fit of
 * the tail (a 2/3 rational, within 2.5e-5 relative of e^(u^2 / 2) Q(u) on
 * [0, 14], fitted for this) and the exponential on the SFU, without the
 * u^2 remainder: within 3e-5 relative in all (checked against float64 on
 * 2M points of [-15, 15]), a twentieth of f16's half ulp, and about ten
 * instructions fewer per element. With gelu_erf bf16 GELU stayed
 * compute-bound at 65% of the copy rate (0.94x PyTorch, H200 2026-12-01).
 * Under FLT_MIN the exponential flushes to 0, as gelu_erf's does. */
__device__ __forceinline__ float gelu_erf_narrow(float x) {
  const float c = x < -14.0f ? -14.0f : x > 14.0f ? 14.0f : x;
  const float u = fabsf(c);
  const float e = exp2_sfu(-0.72134752044448170f * (u * u)); /* e^(-u^2 / 2) */
  float p = 6.2509840312e-2f;
  p = fmaf(p, u, 2.7823315095e-1f);
  p = fmaf(p, u, 5.0001210588e-1f);
  float r = 1.5651228623e-1f;
  r = fmaf(r, u, 7.0251276394e-1f);
  r = fmaf(r, u, 1.3551007369e+0f);
  r = fmaf(r, u, 1.0f);
  const float cq = c * e * __fdividef(p, r);
  return x <= 0.0f ? cq : x - cq;
}

/* The CPU's forms (cpu_elementwise.c): no 1 + erf(..) or 1 + tanh(..),
 * which cancel for negative v. NARROW: the result is rounded to 16 bits,
 * so GELU's exponentials need not be correct to f32's last bit. */
template <kiln_unary_kind K, bool NARROW = false> struct unary_fn {
  float scale;
  __device__ __forceinline__ float operator()(float v) const {
    if constexpr (K == KILN_UNARY_GELU_ERF && NARROW)
      return gelu_erf_narrow(v);
    else if constexpr (K == KILN_UNARY_GELU_ERF)
      return gelu_erf(v);
    else if constexpr (K == KILN_UNARY_GELU_TANH && NARROW) /* the same in base 2, on the SFU */
      return finite_below(v) / (1.0f + exp2_sfu(-2.3022082f * (v + 0.044715f * v * v * v)));
    else if constexpr (K == KILN_UNARY_GELU_TANH)
      return finite_below(v) / (1.0f + expf(-1.5957691216057307f * (v + 0.044715f * v * v * v)));
    else if constexpr (K == KILN_UNARY_SILU)
      return silu(v);
    else
      return scale * v;
  }
};

template <kiln_binary_kind K> __device__ __forceinline__ float binary_fn(float a, float b) {
  if constexpr (K == KILN_BINARY_ADD)
    return a + b;
  else if constexpr (K == KILN_BINARY_MUL)
    return a * b;
  else
    return silu(a) * b;
}

/* Blocks for `work` items, THREADS * UNROLL to a block, at least one;
 * false when that is more blocks than a grid holds. */
static bool grid_for(int64_t work, dim3 &grid) {
  const int64_t per_block = (int64_t)THREADS * UNROLL;
  const int64_t need = (work + per_block - 1) / per_block;
  grid = dim3((unsigned)(need > 0 ? need : 1));
  return need <= INT32_MAX;
}

/* The first item of this thread's chunk; item u of the chunk is first +
 * u * THREADS, so each load instruction of a warp covers 32 neighbours. */
__device__ __forceinline__ int64_t chunk_first() {
  return (int64_t)blockIdx.x * THREADS * UNROLL + threadIdx.x;
}

/* ------------------------------------------------------------- unary */

/* out[i] = f(x[i]). VEC: x and out 16-byte aligned; the vectors, then the
 * scalar tail of n % V elements. out may be x: each element is read by the
 * thread that writes it, before it writes it (so no read-only loads). */
template <class T, bool VEC, class F>
__global__ void __launch_bounds__(THREADS) unary_kernel(const T *x, T *out, int64_t n, F f) {
  KILN_KERNEL_BEGIN();
  constexpr int V = VEC ? VW<T> : 1;
  const int64_t nv = n / V, first = chunk_first();
  float v[UNROLL][VW<T>];
#pragma unroll
  for (int u = 0; u < UNROLL; u++) {
    const int64_t i = first + u * THREADS;
    if (i < nv) {
      if constexpr (VEC)
        load16(x + i * V, v[u]);
      else
        v[u][0] = to_f32(x[i]);
    }
  }
#pragma unroll
  for (int u = 0; u < UNROLL; u++) {
    const int64_t i = first + u * THREADS;
    if (i >= nv)
      continue;
#pragma unroll
    for (int e = 0; e < V; e++)
      v[u][e] = f(v[u][e]);
    if constexpr (VEC)
      store16(out + i * V, v[u]);
    else
      out[i] = from_f32<T>(v[u][0]);
  }
  if (VEC && first < n - nv * V) /* the tail, fewer than V elements, in block 0 */
    out[nv * V + first] = from_f32<T>(f(to_f32(x[nv * V + first])));
}

template <class T, class F>
cudaError_t launch_unary(const kiln_unary_op *op, F f, cudaStream_t stream) {
  const T *x = (const T *)op->x->data;
  T *out = (T *)op->out->data;
  const bool vec = aligned16(x) && aligned16(out);
  dim3 grid;
  if (!grid_for(vec ? op->n / VW<T> : op->n, grid))
    return cudaErrorInvalidConfiguration;
  return launch(vec ? unary_kernel<T, true, F> : unary_kernel<T, false, F>, grid, dim3(THREADS),
                0, stream, x, out, op->n, f);
}

template <class T>
cudaError_t unary_by_kind(const kiln_unary_op *op, cudaStream_t stream) {
  switch (op->kind) {
  case KILN_UNARY_GELU_ERF:
    return launch_unary<T>(op, unary_fn<KILN_UNARY_GELU_ERF, sizeof(T) == 2>{op->scale}, stream);
  case KILN_UNARY_GELU_TANH:
    return launch_unary<T>(op, unary_fn<KILN_UNARY_GELU_TANH, sizeof(T) == 2>{op->scale}, stream);
  case KILN_UNARY_SILU:
    return launch_unary<T>(op, unary_fn<KILN_UNARY_SILU>{op->scale}, stream);
  case KILN_UNARY_SCALE:
    return launch_unary<T>(op, unary_fn<KILN_UNARY_SCALE>{op->scale}, stream);
  }
  return cudaErrorInvalidValue;
}

/* ------------------------------------------------------------ binary */

struct binary_args {
  const void *a, *b;
  void *out; /* may be a, or b when b_n == n */
  int64_t n, b_n;
};

/* V elements of b starting at a's element e. B_VEC: b_n is a multiple of V
 * and b is aligned, so they are one aligned vector; otherwise they are
 * gathered one by one, wrapping at b_n (b is small and stays in cache). */
template <class T, bool B_VEC, int V>
__device__ __forceinline__ void load_b(const T *b, int64_t b_n, int64_t e, bool whole,
                                       float (&out)[VW<T>]) {
  int64_t j = whole ? e : e % b_n;
  if constexpr (B_VEC && V > 1) {
    load16(b + j, out);
  } else {
#pragma unroll
    for (int u = 0; u < V; u++) {
      out[u] = to_f32(b[j]);
      j = j + 1 == b_n ? 0 : j + 1;
    }
  }
}

/* out[i] = a[i] op b[i % b_n]. VEC: a and out 16-byte aligned (B_VEC says
 * whether b's vectors are too). Same loop shape as unary_kernel. */
template <class T, kiln_binary_kind K, bool VEC, bool B_VEC>
__global__ void __launch_bounds__(THREADS) binary_kernel(binary_args args) {
  KILN_KERNEL_BEGIN();
  constexpr int V = VEC ? VW<T> : 1;
  const T *a = (const T *)args.a, *b = (const T *)args.b;
  T *out = (T *)args.out;
  const int64_t n = args.n, nv = n / V, first = chunk_first();
  const bool whole = args.b_n == n; /* no broadcast: skip the modulo */
  float va[UNROLL][VW<T>], vb[UNROLL][VW<T>];
#pragma unroll
  for (int u = 0; u < UNROLL; u++) {
    const int64_t i = first + u * THREADS;
    if (i < nv) {
      if constexpr (VEC)
        load16(a + i * V, va[u]);
      else
        va[u][0] = to_f32(a[i]);
      load_b<T, B_VEC, V>(b, args.b_n, i * V, whole, vb[u]);
    }
  }
#pragma unroll
  for (int u = 0; u < UNROLL; u++) {
    const int64_t i = first + u * THREADS;
    if (i >= nv)
      continue;
#pragma unroll
    for (int e = 0; e < V; e++)
      va[u][e] = binary_fn<K>(va[u][e], vb[u][e]);
    if constexpr (VEC)
      store16(out + i * V, va[u]);
    else
      out[i] = from_f32<T>(va[u][0]);
  }
  const int64_t t = nv * V + first; /* the tail, fewer than V elements, in block 0 */
  if (VEC && t < n)
    out[t] = from_f32<T>(binary_fn<K>(to_f32(a[t]), to_f32(b[whole ? t : t % args.b_n])));
}

template <class T, kiln_binary_kind K>
cudaError_t launch_binary(const binary_args &args, cudaStream_t stream) {
  const bool vec = aligned16(args.a) && aligned16(args.out);
  const bool b_vec = vec && args.b_n % VW<T> == 0 && aligned16(args.b);
  dim3 grid;
  if (!grid_for(vec ? args.n / VW<T> : args.n, grid))
    return cudaErrorInvalidConfiguration;
  const auto kernel = b_vec ? binary_kernel<T, K, true, true>
                      : vec ? binary_kernel<T, K, true, false>
                            : binary_kernel<T, K, false, false>;
  return launch(kernel, grid, dim3(THREADS), 0, stream, args);
}

template <class T>
cudaError_t binary_by_kind(const kiln_binary_op *op, cudaStream_t stream) {
  const binary_args args = {op->a->data, op->b->data, op->out->data, op->n, op->b_n};
  switch (op->kind) {
  case KILN_BINARY_ADD: return launch_binary<T, KILN_BINARY_ADD>(args, stream);
  case KILN_BINARY_MUL: return launch_binary<T, KILN_BINARY_MUL>(args, stream);
  case KILN_BINARY_SWIGLU: return launch_binary<T, KILN_BINARY_SWIGLU>(args, stream);
  }
  return cudaErrorInvalidValue;
}

/* The public name of the op, for error messages. */
const char *unary_name(kiln_unary_kind kind) {
  switch (kind) {
  case KILN_UNARY_GELU_ERF:
  case KILN_UNARY_GELU_TANH: return "kiln_gelu";
  case KILN_UNARY_SILU: return "kiln_silu";
  default: return "kiln_scale";
  }
}

const char *binary_name(kiln_binary_kind kind) {
  switch (kind) {
  case KILN_BINARY_ADD: return "kiln_add";
  case KILN_BINARY_MUL: return "kiln_mul";
  default: return "kiln_swiglu";
  }
}

} // namespace

static kiln_status kiln_cuda_unary(void *state, const kiln_unary_op *op) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = unary_name(op->kind);
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  cudaError_t err = with_dtype(op->dtype, [&](auto zero) {
    return unary_by_kind<decltype(zero)>(op, st->stream);
  });
  return kiln_cuda_check(err, fn, "launching the elementwise kernel");
}

KILN_CUDA_OP(unary, kiln_cuda_unary, NULL);

static kiln_status kiln_cuda_binary(void *state, const kiln_binary_op *op) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = binary_name(op->kind);
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  cudaError_t err = with_dtype(op->dtype, [&](auto zero) {
    return binary_by_kind<decltype(zero)>(op, st->stream);
  });
  return kiln_cuda_check(err, fn, "launching the elementwise kernel");
}

KILN_CUDA_OP(binary, kiln_cuda_binary, NULL);
