/* The tolerances; the reasoning is in tolerance.h. */
#include "tolerance.h"

#include <math.h>

#define F32_U 0x1p-24

static double unit_roundoff(kiln_dtype dtype) {
  return dtype == KILN_F32 ? F32_U : dtype == KILN_F16 ? 0x1p-11 : 0x1p-8;
}

double kt_matmul_tol(kiln_dtype dtype, int64_t k) {
  return 2.0 * unit_roundoff(dtype) + (8.0 + 8.0 * sqrt((double)k)) * F32_U;
}

double kt_matmul_tf32_tol(int64_t k) { return 4.0 * 0x1p-11 + 8.0 * sqrt((double)k) * F32_U; }

/* An f32 kernel that forms scale * x before subtracting the row max (a
 * legitimate, backward-stable order) loses up to |scale * x| * 2^-24 in the
 * exponent, and exp turns that into the same relative error in the result;
 * it only matters for the huge-logit cases. */
double kt_softmax_tol(kiln_dtype dtype, int64_t cols, double big) {
  return 2.0 * unit_roundoff(dtype) + (8.0 + 4.0 * sqrt((double)cols) + 4.0 * big) * F32_U;
}

double kt_rms_norm_tol(kiln_dtype dtype, int64_t h) {
  return 2.0 * unit_roundoff(dtype) + (8.0 + 4.0 * sqrt((double)h)) * F32_U;
}

/* A mean over a sequence of len rows: the column sums are f32 on the GPU
 * (random-walk rounding over len terms, relative to the row's largest
 * mean), the division one rounding; normalized, the f32 sum of H squares
 * and rsqrtf's couple of ulp. One final rounding to the dtype. */
double kt_mean_pool_tol(kiln_dtype dtype, int64_t len, int64_t h) {
  return 2.0 * unit_roundoff(dtype) + (8.0 + 4.0 * sqrt((double)len) + 4.0 * sqrt((double)h)) * F32_U;
}
