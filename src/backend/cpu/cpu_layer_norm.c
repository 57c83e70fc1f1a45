/*
 * LayerNorm over the last axis (kiln_cpu_norm, cpu_norm.c), its row in two
 * passes for the statistics: the mean, then the mean squared deviation
 * from it.
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

/* Both LayerNorm ops' row (cpu.h). */
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

static kiln_status layer_norm(void *state, const kiln_layer_norm_op *op) {
  const cpu_norm n = {.x = op->x, .weight = op->weight, .bias = op->bias, .out = op->out,
                      .layer = true, .dtype = op->dtype, .rows = op->rows, .cols = op->cols,
                      .eps = op->eps, .fn = "kiln_layer_norm"};
  return kiln_cpu_norm(state, &n);
}

KILN_CPU_OP(layer_norm, layer_norm, NULL);
