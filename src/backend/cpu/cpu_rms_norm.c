/*
 * RMSNorm over the last axis (kiln_cpu_norm, cpu_norm.c); the row itself is
 * cpu_rows.h's rms_norm_row, in the variant cpu_create chose.
 */
#include "cpu.h"

static kiln_status rms_norm(void *state, const kiln_rms_norm_op *op) {
  const cpu_norm n = {.x = op->x, .weight = op->weight, .out = op->out,
                      .dtype = op->dtype, .rows = op->rows, .cols = op->cols,
                      .eps = op->eps, .fn = "kiln_rms_norm"};
  return kiln_cpu_norm(state, &n);
}

KILN_CPU_OP(rms_norm, rms_norm, NULL);
