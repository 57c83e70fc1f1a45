/* The row kernels again with AVX2 enabled (see cpu_rows.h), for machines
 * that have it; cpu_row_kernels_select decides at run time. Headers come
 * first, so only the functions defined in cpu_rows.h get the target. */
#include "cpu.h"

#include <math.h>
#include <string.h>

#if CPU_HAVE_AVX2_VARIANT
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif

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
