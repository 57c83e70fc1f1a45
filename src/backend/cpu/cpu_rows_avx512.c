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
