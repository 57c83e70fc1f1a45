/*
 * Residual add fused with RMSNorm (kiln_cpu_norm, cpu_norm.c): h = x +
 * residual is rounded into h, then the row of h, still in cache, is
 * normalized by the same row kernel kiln_rms_norm uses, so the fused and
 * the composite results agree to the bit.
 */
#include "cpu.h"

static kiln_status add_rms_norm(void *state, const kiln_add_rms_norm_op *op) {
  const cpu_norm n = {.x = op->x, .residual = op->residual, .weight = op->weight,
                      .h = op->h, .out = op->out, .dtype = op->dtype, .rows = op->rows, .cols = op->cols,
                      .eps = op->eps, .fn = "kiln_add_rms_norm"};
  return kiln_cpu_norm(state, &n);
}

KILN_CPU_OP(add_rms_norm, add_rms_norm, NULL);
