/*
 * The elementwise ops in CPU_BLOCK pieces: each piece is widened to f32
 * (16-bit) or used where it lies (f32), computed in f32, and rounded once
 * into out. Pieces are independent, so they are the parallel loop's unit.
 */
#include "cpu.h"

#include <math.h>

static inline float silu(float v) { return v / (1.0f + expf(-v)); }

static void unary_block(const kiln_unary_op *op, const float *v, float *d, size_t n) {
  const float s = op->scale;
  switch (op->kind) {
  /* Both GELUs are written without 1 + erf(..) or 1 + tanh(..), which
   * cancel for negative x and leave tiny outputs with no correct digit:
   * 1 + erf(t) = erfc(-t), and (1 + tanh(z)) / 2 = 1 / (1 + e^(-2z)). */
  case KILN_UNARY_GELU_ERF:
    for (size_t j = 0; j < n; j++)
      d[j] = 0.5f * v[j] * erfcf(v[j] * -0.70710678118654752f);
    break;
  case KILN_UNARY_GELU_TANH:
    for (size_t j = 0; j < n; j++)
      d[j] = v[j] / (1.0f + expf(-1.5957691216057307f *
                                 (v[j] + 0.044715f * v[j] * v[j] * v[j])));
    break;
  case KILN_UNARY_SILU:
    for (size_t j = 0; j < n; j++)
      d[j] = silu(v[j]);
    break;
  case KILN_UNARY_SCALE:
    for (size_t j = 0; j < n; j++)
      d[j] = s * v[j];
    break;
  }
}

static void binary_block(kiln_binary_kind kind, const float *a, const float *b, float *d,
                         size_t n) {
  switch (kind) {
  case KILN_BINARY_ADD:
    for (size_t j = 0; j < n; j++)
      d[j] = a[j] + b[j];
    break;
  case KILN_BINARY_MUL:
    for (size_t j = 0; j < n; j++)
      d[j] = a[j] * b[j];
    break;
  case KILN_BINARY_SWIGLU:
    for (size_t j = 0; j < n; j++)
      d[j] = silu(a[j]) * b[j];
    break;
  }
}

static int64_t block_count(int64_t len) { return (len + CPU_BLOCK - 1) / CPU_BLOCK; }

kiln_status cpu_unary(void *state, const kiln_unary_op *op) {
  (void)state;
  const kiln_dtype dtype = op->dtype;
  const int64_t blocks = block_count(op->n);
#pragma omp parallel for schedule(static) if (op->n > CPU_PARALLEL_MIN)
  for (int64_t i = 0; i < blocks; i++) {
    const int64_t j0 = i * CPU_BLOCK;
    const size_t n = cpu_block_length(op->n, j0);
    float buf[CPU_BLOCK];
    const float *v = cpu_load(dtype, op->x->data, j0, n, buf);
    float *d = cpu_target(dtype, op->out->data, j0, buf);
    unary_block(op, v, d, n);
    cpu_commit(dtype, op->out->data, j0, d, n);
  }
  return KILN_OK;
}

/* a and out are rows of b_n elements, each combined with all of b; the
 * unit of work is one block of one row. */
kiln_status cpu_binary(void *state, const kiln_binary_op *op) {
  (void)state;
  const kiln_dtype dtype = op->dtype;
  const int64_t per_row = block_count(op->b_n), rows = op->n / op->b_n;
#pragma omp parallel for schedule(static) if (op->n > CPU_PARALLEL_MIN)
  for (int64_t i = 0; i < rows * per_row; i++) {
    const int64_t r = i / per_row, j0 = (i % per_row) * CPU_BLOCK;
    const size_t n = cpu_block_length(op->b_n, j0), offset = cpu_row_offset(dtype, r, op->b_n);
    float abuf[CPU_BLOCK], bbuf[CPU_BLOCK];
    const float *a = cpu_load(dtype, (const char *)op->a->data + offset, j0, n, abuf);
    const float *b = cpu_load(dtype, op->b->data, j0, n, bbuf);
    void *out = (char *)op->out->data + offset;
    float *d = cpu_target(dtype, out, j0, abuf);
    binary_block(op->kind, a, b, d, n);
    cpu_commit(dtype, out, j0, d, n);
  }
  return KILN_OK;
}
