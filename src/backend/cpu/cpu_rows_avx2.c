/* The row kernels again with AVX2 and FMA enabled (see cpu_rows.h), for
 * machines that have both; select_row_kernels (cpu_backend.c) decides at
 * run time. Headers come first, so only the functions defined in cpu_rows.h
 * get the target. */
#include "cpu.h"

#include <math.h>
#include <string.h>

#if CPU_HAVE_AVX2_VARIANT
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

/* FMA only where asked for: the attention tiles' multiply-adds
 * (ATTN_FMA). clang would otherwise fuse a * b + c everywhere, even in ISO
 * C mode (GCC does not), and the other row kernels keep the baseline's
 * bits. */
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#define ATTN_FMA(a, b, c) ((attn_vec)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#define ATTN_FMA8 ATTN_FMA
#define ATTN_SPLAT(x) ((attn_vec)_mm256_set1_ps(x))
#define CPU_ROWS_TABLE kiln_cpu_rows_avx2
#include "cpu_rows.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
/* ISO C wants a translation unit to declare something. */
typedef int cpu_rows_avx2_absent;
#endif
