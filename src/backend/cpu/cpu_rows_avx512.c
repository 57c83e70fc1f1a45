/* The row kernels once more with AVX-512 enabled, for fused attention's
 * tiles and the unary elementwise ops (cpu_attention.c and
 * cpu_elementwise.c pick this table's attention_tile and unary_block where
 * the CPU has AVX-512F and VL, unless KILN_CPU_ROWS=base): the attention
 * score and P.V micro-kernels run on 16-float vectors (ATTN_W). Still no
 * FMA and the same order of every sum, so the bits are those of the other
 * builds; the other ops keep the AVX2 table. Headers come first, so only
 * the functions of cpu_rows.h get the target. */
#include "cpu.h"

#include <math.h>
#include <string.h>

#if CPU_HAVE_AVX2_VARIANT
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,avx512f,avx512vl"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,avx512f,avx512vl")
#endif

/* AVX-512F brings FMA with it, and clang fuses a * b + c by default even in
 * ISO C mode (GCC does not): keep every multiply and add separate, as in
 * the other builds, so the bits stay the same. */
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#define ATTN_W 16
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
