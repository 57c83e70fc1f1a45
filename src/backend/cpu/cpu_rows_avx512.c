/* The row kernels once more with AVX-512 enabled, for fused attention's
 * tiles and the unary elementwise ops (cpu_attention.c and
 * cpu_elementwise.c pick this table's attention_tile and unary_block where
 * the CPU has AVX-512F and VL, unless KILN_CPU_ROWS=base): the attention
 * score and P.V micro-kernels run on 16-float vectors (ATTN_W) with FMA;
 * the other ops keep the AVX2 table. Headers come first, so only the
 * functions of cpu_rows.h get the target. */
#include "cpu.h"

#include <math.h>
#include <string.h>

#if CPU_HAVE_AVX2_VARIANT
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512vl"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512vl")
#endif

/* FMA only where asked for (ATTN_FMA, ATTN_FMA8): clang would otherwise
 * fuse a * b + c everywhere, even in ISO C mode (GCC does not), and the
 * unary ops this table also serves keep the baseline's bits. */
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#define ATTN_W 16

/* e^t on 16 lanes for t <= 0, for the attention tiles' probabilities, in
 * about half the instructions of the portable attn_exp: 2^x for x = t log2(e)
 * as 2^n (vscalefps) times 2^f for f = x - round(x), |f| <= 1/2, whose
 * degree-6 Taylor polynomial is within 4 ulp. Rounding x costs a relative
 * error of |x| 2^-24 in the result, 1e-7 where e^t is above 1e-3 and at most
 * 5e-6 near the cutoff: below -87 (e^t under 1.4 FLT_MIN, and -inf) the
 * result is exactly 0, which masked keys rely on; NaN stays NaN. */
static inline __m512 attn_exp16(__m512 t) {
  const __mmask16 keep = _mm512_cmp_ps_mask(t, _mm512_set1_ps(-87.0f), _CMP_NLT_UQ);
  const __m512 x = _mm512_mul_ps(t, _mm512_set1_ps(1.44269504f));
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(1.5403530393e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558146e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291076e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504108665e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022650696e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718056e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(keep, p, n);
}
#define ATTN_EXP(t) ((attn_vec)attn_exp16((__m512)(t)))
#define ATTN_FMA(a, b, c) ((attn_vec)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#define ATTN_FMA8(a, b, c) ((attn_v8)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#define ATTN_SPLAT(x) ((attn_vec)_mm512_set1_ps(x))
#define CPU_ROWS_TABLE kiln_cpu_rows_avx512
#include "cpu_rows.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
/* ISO C wants a translation unit to declare something. */
typedef int cpu_rows_avx512_absent;
#endif
