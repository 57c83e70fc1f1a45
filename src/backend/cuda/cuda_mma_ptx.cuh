/*
 * The PTX that tensor-core kernels build on, for kernels that stage tiles
 * through shared memory: 16-byte asynchronous copies (cp.async), ldmatrix,
 * mma.sync m16n8k16 with f32 accumulators for f16 and bf16, and m16n8k8 on
 * TF32 pieces of f32 (3xTF32) for f32.
 *
 * Fragment layouts of m16n8k16 (lane = 4 g + t): A (16 x 16, row-major)
 * a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..);
 * B (16 x 8, k x n) b0 = (k 2t..2t+1, n g), b1 = (k 2t+8.., n g);
 * C (16 x 8, f32) c0, c1 = (g, 2t..2t+1), c2, c3 = (g+8, 2t..2t+1).
 *
 * And of m16n8k8 with .tf32 operands (each in a 32-bit register):
 * A (16 x 8) a0 = (g, t), a1 = (g+8, t), a2 = (g, t+4), a3 = (g+8, t+4);
 * B (8 x 8, k x n) b0 = (k t, n g), b1 = (k t+4, n g); C as above.
 */
#ifndef KILN_CUDA_MMA_PTX_CUH
#define KILN_CUDA_MMA_PTX_CUH

#include "cuda_common.cuh"

#include <type_traits>

namespace kiln_dev {
namespace ptx {

__device__ __forceinline__ unsigned smem_addr(const void *p) {
  return (unsigned)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared, asynchronous, through L2 only (.cg); zeros
 * when !ok, and then nothing is read (src need only be a valid address). */
__device__ __forceinline__ void cp_async16(void *dst, const void *src, bool ok) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(ok ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
/* Waits until at most N of this thread's committed groups are in flight. */
template <int N> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void *p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], const void *p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

/* c += a b, f32 accumulators; T picks the f16 or bf16 instruction. */
template <class T>
__device__ __forceinline__ void mma16816(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                         unsigned b1) {
  if constexpr (std::is_same<T, __half>::value) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    static_assert(std::is_same<T, __nv_bfloat16>::value, "f16 or bf16");
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

/* c += a b on TF32 operands (10 explicit mantissa bits; products exact,
 * f32 accumulators). */
__device__ __forceinline__ void mma1688_tf32(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                             unsigned b1) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, "
               "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* x as hi + lo, two TF32 values: hi is x rounded to TF32, lo the rest
 * (x - hi is exact in f32, at most 2^-11 |x|) rounded to TF32, so
 * |x - hi - lo| <= 2^-22 |x|. */
__device__ __forceinline__ void split_tf32(float x, unsigned &hi, unsigned &lo) {
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(hi) : "f"(x));
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(lo) : "f"(x - __uint_as_float(hi)));
}

/* c += a b for f32 a and b given as TF32 pieces (3xTF32): a_lo b_hi +
 * a_hi b_lo + a_hi b_hi. The dropped a_lo b_lo is below 2^-22 |a b|, so
 * each product is within about 3 * 2^-22 of exact: f32's accuracy within
 * a few units, at tensor-core speed. b = {hi of b0, hi of b1, lo of b0,
 * lo of b1}, one 16-byte shared-memory read. */
__device__ __forceinline__ void mma1688_tf32x3(float (&c)[4], const unsigned (&a_hi)[4],
                                               const unsigned (&a_lo)[4], const uint4 &b) {
  mma1688_tf32(c, a_lo, b.x, b.y);
  mma1688_tf32(c, a_hi, b.z, b.w);
  mma1688_tf32(c, a_hi, b.x, b.y);
}

/* Two f32 as one register of T pairs, lo in the low half (the lower column). */
template <class T> __device__ __forceinline__ unsigned pack2(float lo, float hi) {
  if constexpr (std::is_same<T, __half>::value) {
    const __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const unsigned *>(&v);
  } else {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const unsigned *>(&v);
  }
}

} // namespace ptx
} // namespace kiln_dev

#endif /* KILN_CUDA_MMA_PTX_CUH */
