/*
 * Residual add fused with LayerNorm (kiln_cpu_norm, cpu_norm.c): h = x +
 * residual is rounded into h, then the row of h, still in cache, is
 * normalized by the row kernel kiln_layer_norm uses, so the fused and the
 * composite results agree to the bit.
 */
#include "cpu.h"

static kiln_status add_layer_norm(void *state, const kiln_add_layer_norm_op *op) {
  const cpu_norm n = {.x = op->x, .residual = op->residual, .weight = op->weight,
                      .bias = op->bias, .h = op->h, .out = op->out, .layer = true,
                      .dtype = op->dtype, .rows = op->rows, .cols = op->cols,
                      .eps = op->eps, .fn = "kiln_add_layer_norm"};
  return kiln_cpu_norm(state, &n);
}

KILN_CPU_OP(add_layer_norm, add_layer_norm, NULL);
