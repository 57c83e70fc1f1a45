/*
 * Device helpers every kiln kernel uses: f16/bf16 read as f32 and written
 * back with one rounding, 16-byte vector loads and stores, warp and block
 * reductions, and a launch that returns its error instead of leaving it in
 * the thread's last-error state.
 */
#ifndef KILN_CUDA_COMMON_CUH
#define KILN_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "internal.h"
}

/* KILN_CUDA_PDL (cuda_env.cu). */
bool kiln_cuda_env_pdl(void);

namespace kiln_dev {

/* 2^x on the SFU alone (ex2.approx.ftz.f32: within 2 ulp; results under
 * 2^-126 flush to 0). exp2f wraps the same instruction in a fix-up for
 * subnormal results, three more instructions per element, which an
 * exponent of a softmax (normalized by a sum of at least 1) has no use
 * for. 2^-inf is 0, 2^inf inf, NaN stays NaN. */
__device__ __forceinline__ float exp2_sfu(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

/* ------------------------------------------------------------ dtypes */

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f32<__half>(float v) {
  return __float2half_rn(v);
}
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

/* ------------------------------------------------- 16-byte vectors */

/* Elements of T in one 16-byte access. */
template <class T> constexpr int VW = 16 / (int)sizeof(T);

template <class T> struct alignas(16) vec16 {
  T e[VW<T>];
};

/* p must be 16-byte aligned: one LDG.E.128. */
template <class T>
__device__ __forceinline__ void load16(const T *p, float (&out)[VW<T>]) {
  vec16<T> v = *reinterpret_cast<const vec16<T> *>(p);
#pragma unroll
  for (int u = 0; u < VW<T>; u++)
    out[u] = to_f32(v.e[u]);
}

/* 16 bytes through the read-only path: for data no thread of the kernel
 * writes. Unlike a plain load, the compiler may move it ahead of the
 * kernel's stores, so such loads issue together. */
template <class T> __device__ __forceinline__ vec16<T> load_vec16_ro(const T *p) {
  const uint4 raw = __ldg(reinterpret_cast<const uint4 *>(p));
  vec16<T> v;
  static_assert(sizeof v == sizeof raw, "a vec16 is 16 bytes");
  memcpy(&v, &raw, sizeof v);
  return v;
}

template <class T>
__device__ __forceinline__ void load16_ro(const T *p, float (&out)[VW<T>]) {
  const vec16<T> v = load_vec16_ro(p);
#pragma unroll
  for (int u = 0; u < VW<T>; u++)
    out[u] = to_f32(v.e[u]);
}

template <class T>
__device__ __forceinline__ void store16(T *p, const float (&in)[VW<T>]) {
  vec16<T> v;
#pragma unroll
  for (int u = 0; u < VW<T>; u++)
    v.e[u] = from_f32<T>(in[u]);
  *reinterpret_cast<vec16<T> *>(p) = v;
}

/* Host side: may p be read with 16-byte accesses? */
static inline bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* ------------------------------------------------------ reductions */

struct op_sum {
  __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};
struct op_max {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <class Op> __device__ __forceinline__ float warp_reduce(float v, Op op) {
#pragma unroll
  for (int o = 16; o; o >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/* Reduces v over the THREADS threads of a block (THREADS a multiple of 32,
 * at most 1024); every thread gets the result. scratch holds one float per
 * warp; a second reduction needs other scratch, or a barrier in between. */
template <int THREADS, class Op>
__device__ __forceinline__ float block_reduce(float v, Op op, float *scratch) {
  constexpr int WARPS = THREADS / 32;
  v = warp_reduce(v, op);
  if (WARPS == 1)
    return v;
  if (threadIdx.x % 32 == 0)
    scratch[threadIdx.x / 32] = v;
  __syncthreads();
  v = scratch[0];
#pragma unroll
  for (int w = 1; w < WARPS; w++)
    v = op(v, scratch[w]);
  return v;
}

/* ---------------------------------------------------------- launch */

template <class T> struct same {
  using type = T;
};

/* Programmatic dependent launch: each kernel of ours may be scheduled
 * while the kernel before it in the stream is still running, and waits for
 * it (griddepcontrol.wait) before its first memory access. That hides the
 * launch ramp of a chain of small ops, back to back and inside a graph.
 * Every __global__ function here must begin with KILN_KERNEL_BEGIN().
 * KILN_CUDA_PDL=0 in the environment turns it off (read once per
 * process, cuda_env.cu), so its effect can be measured. */
static inline bool pdl_enabled() { return kiln_cuda_env_pdl(); }

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define KILN_KERNEL_BEGIN()                                                                        \
  asm volatile("griddepcontrol.wait;\n\tgriddepcontrol.launch_dependents;" ::: "memory")
#else
#define KILN_KERNEL_BEGIN() ((void)0)
#endif

/* kernel<<<grid, block, smem, stream>>>(args...), returning the launch's
 * error. The arguments convert to the kernel's parameter types first. */
template <class... P>
static cudaError_t launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
                          cudaStream_t stream, typename same<P>::type... args) {
  void *ptrs[] = {(void *)&args..., nullptr};
  cudaLaunchAttribute pdl;
  pdl.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  pdl.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = &pdl;
  config.numAttrs = pdl_enabled() ? 1 : 0;
  return cudaLaunchKernelExC(&config, (const void *)kernel, ptrs);
}

/* The CUDA side of the dtype table (src/core/dtype.c): each kiln_dtype's
 * cudaDataType, in enum order. The assertions refuse a kiln_dtype without
 * its row, so a new dtype cannot reach cuBLASLt as another one. */
struct cuda_dtype_row {
  kiln_dtype dtype;
  cudaDataType_t type;
};
static constexpr cuda_dtype_row cuda_dtypes[] = {
    {KILN_F32, CUDA_R_32F},
    {KILN_F16, CUDA_R_16F},
    {KILN_BF16, CUDA_R_16BF},
    {KILN_I32, CUDA_R_32I},
};
static_assert(sizeof cuda_dtypes / sizeof cuda_dtypes[0] == KILN_DTYPE_COUNT,
              "every kiln_dtype needs its row in cuda_dtypes");
constexpr bool cuda_dtypes_in_order() {
  for (int i = 0; i < KILN_DTYPE_COUNT; i++)
    if (cuda_dtypes[i].dtype != i)
      return false;
  return true;
}
static_assert(cuda_dtypes_in_order(), "cuda_dtypes rows must follow kiln_dtype's order");

/* Calls f with a value of the CUDA element type of a float dtype, for
 * dispatch by dtype; other dtypes never reach a kernel (validation). */
template <class F> static cudaError_t with_dtype(kiln_dtype dtype, F &&f) {
  switch (dtype) {
  case KILN_F32: return f(float{});
  case KILN_F16: return f(__half{});
  case KILN_BF16: return f(__nv_bfloat16{});
  default: return cudaErrorInvalidValue;
  }
}

} // namespace kiln_dev

#endif /* KILN_CUDA_COMMON_CUH */
