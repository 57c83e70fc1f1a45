/*
 * How far an op's result may be from the float64 reference, as a bound on
 * max|out - ref| / max|ref| (per row where the check is per row).
 *
 * The reference is computed from exactly the values the tensors hold, so
 * the only errors left are the library's own: its f32 arithmetic (unit
 * roundoff 2^-24, accumulated over a reduction like a random walk, so about
 * sqrt(n) roundings) and one final rounding to the output dtype (u = 2^-24,
 * 2^-11 or 2^-8, relative to the largest output). The constant factors
 * leave room for the worst of thousands of elements without hiding a real
 * bug: a dropped term, a wrong index or a missing max-subtraction is off by
 * orders of magnitude more.
 */
#ifndef KILN_TESTS_TOLERANCE_H
#define KILN_TESTS_TOLERANCE_H

#include <stdint.h>

#include "kiln.h"

/* A K-term dot product per output element. */
double kt_matmul_tol(kiln_dtype dtype, int64_t k);
/* TF32 products: about 10 mantissa bits per operand. */
double kt_matmul_tf32_tol(int64_t k);
/* A softmax row of `cols` entries whose largest |scale * x| is big. */
double kt_softmax_tol(kiln_dtype dtype, int64_t cols, double big);
/* An RMSNorm row of h entries. */
double kt_rms_norm_tol(kiln_dtype dtype, int64_t h);
/* kiln_mean_pool of a sequence of len rows of h entries (normalized or not). */
double kt_mean_pool_tol(kiln_dtype dtype, int64_t len, int64_t h);

#endif /* KILN_TESTS_TOLERANCE_H */
