/*
 * LayerNorm over the last axis, one row per loop iteration, in two passes
 * for the statistics: the mean, then the mean squared deviation from it.
 * One-pass E[x^2] - E[x]^2 cancels catastrophically when |mean| >> std (a
 * row around 1000 with spread 1 in f32 keeps no correct digit); two passes
 * cost one more read of a row that is in cache anyway.
 */
#include "cpu.h"

#include <math.h>

/* Blocks of CPU_LANES f32 partial sums, the row total in double, as the
 * other row reductions do. shift is subtracted before squaring (pass 2);
 * square = false sums the values (pass 1). A block whose f32 sum overflows
 * (entries near FLT_MAX, or squares of entries above 1.8e19, as in a row
 * [1e20, -1e20, ...]) is summed again in double, where it cannot: such rows
 * normalize to +-1 instead of 0 (kiln.h). */
static double row_sum(kiln_dtype dtype, const void *x, int64_t cols, float shift, bool square) {
  float buf[CPU_BLOCK];
  double total = 0.0;
  for (int64_t j0 = 0; j0 < cols; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(cols, j0);
    const float *v = cpu_load(dtype, x, j0, n, buf);
    float lanes[CPU_LANES] = {0};
    size_t j = 0;
    for (; j + CPU_LANES <= n; j += CPU_LANES)
      for (int l = 0; l < CPU_LANES; l++) {
        float t = v[j + l] - shift;
        lanes[l] += square ? t * t : t;
      }
    double block = 0.0;
    for (; j < n; j++) {
      float t = v[j] - shift;
      block += square ? t * t : t;
    }
    for (int l = 0; l < CPU_LANES; l++)
      block += lanes[l];
    if (isinf(block)) {
      block = 0.0;
      for (j = 0; j < n; j++) {
        double t = (double)v[j] - shift;
        block += square ? t * t : t;
      }
    }
    total += block;
  }
  return total;
}

/* Also kiln_add_layer_norm's (cpu.h). */
void kiln_cpu_layer_norm_row(kiln_dtype dtype, const void *x, void *out, int64_t cols, float eps,
                             const float *weight, const float *bias) {
  const float mean = (float)(row_sum(dtype, x, cols, 0.0f, false) / (double)cols);
  const double var = row_sum(dtype, x, cols, mean, true) / (double)cols;
  const float inv_std = (float)(1.0 / sqrt(var + eps));
  float buf[CPU_BLOCK];
  for (int64_t j0 = 0; j0 < cols; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(cols, j0);
    const float *v = cpu_load(dtype, x, j0, n, buf);
    float *d = cpu_target(dtype, out, j0, buf);
    for (size_t j = 0; j < n; j++)
      d[j] = (v[j] - mean) * inv_std * weight[j0 + j] + bias[j0 + j];
    cpu_commit(dtype, out, j0, d, n);
  }
}

kiln_status kiln_cpu_layer_norm_params(cpu_state *s, kiln_dtype dtype, const kiln_tensor *weight,
                                       const kiln_tensor *bias, int64_t cols, const float *wb[2],
                                       const char *fn) {
  const kiln_tensor *params[2] = {weight, bias};
  const float fills[2] = {1.0f, 0.0f};
  return kiln_cpu_params_f32(s, dtype, params, fills, 2, (size_t)cols, wb, fn);
}

static kiln_status layer_norm(void *state, const kiln_layer_norm_op *op) {
  const int64_t rows = op->rows, cols = op->cols;
  const float *wb[2] = {NULL, NULL};
  kiln_status s = kiln_cpu_layer_norm_params(state, op->dtype, op->weight, op->bias, cols, wb,
                                             "kiln_layer_norm");
  if (s != KILN_OK)
    return s;
#pragma omp parallel for schedule(static) if (rows * cols > CPU_PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const size_t offset = cpu_row_offset(op->dtype, r, cols);
    kiln_cpu_layer_norm_row(op->dtype, (const char *)op->x->data + offset,
                            (char *)op->out->data + offset, cols, op->eps, wb[0], wb[1]);
  }
  return KILN_OK;
}

KILN_CPU_OP(layer_norm, layer_norm, NULL);
