/*
 * The elementwise ops in CPU_BLOCK pieces: each piece is widened to f32
 * (16-bit) or used where it lies (f32), computed in f32 by the row-kernel
 * table's block functions (cpu_rows.h: vectorized exp, an AVX2 build), and
 * rounded once into out. Pieces are independent, so they are the parallel
 * loop's unit.
 */
#include "cpu.h"

static int64_t block_count(int64_t len) { return (len + CPU_BLOCK - 1) / CPU_BLOCK; }

/* The unary ops round each element on its own (no sums, no FMA), so the
 * AVX-512 build of the row kernels gives the other builds' bits, 16 wide:
 * GELU (erf) ran 1.5x faster than in the AVX2 build. */
static const cpu_row_kernels *unary_kernels(const cpu_state *s) {
#if CPU_HAVE_AVX2_VARIANT
  if (kiln_cpu_attention_wide(s))
    return &kiln_cpu_rows_avx512;
#endif
  return s->rows;
}

static kiln_status unary(void *state, const kiln_unary_op *op) {
  const cpu_row_kernels *k = unary_kernels(state);
  const kiln_dtype dtype = op->dtype;
  const int64_t blocks = block_count(op->n);
#pragma omp parallel for schedule(static) if (op->n > CPU_PARALLEL_MIN)
  for (int64_t i = 0; i < blocks; i++) {
    const int64_t j0 = i * CPU_BLOCK;
    const size_t n = cpu_block_length(op->n, j0);
    float buf[CPU_BLOCK];
    const float *v = cpu_load(dtype, op->x->data, j0, n, buf);
    float *d = cpu_target(dtype, op->out->data, j0, buf);
    k->unary_block(op, v, d, n);
    cpu_commit(dtype, op->out->data, j0, d, n);
  }
  return KILN_OK;
}

KILN_CPU_OP(unary, unary, NULL);

void kiln_cpu_activate(const cpu_state *s, kiln_activation act, float *out, int64_t rows,
                       int64_t cols, int64_t ldo) {
  if (act == KILN_ACTIVATION_NONE)
    return;
  const cpu_row_kernels *k = unary_kernels(s);
  const kiln_unary_op op = {.kind = kiln_activation_unary(act), .scale = 1.0f};
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j0 = 0; j0 < cols; j0 += CPU_BLOCK) {
      float *v = out + r * ldo + j0;
      k->unary_block(&op, v, v, cpu_block_length(cols, j0));
    }
}

/* a and out are rows of b_n elements, each combined with all of b; the
 * unit of work is one block of one row. */
static kiln_status binary(void *state, const kiln_binary_op *op) {
  const cpu_row_kernels *k = ((const cpu_state *)state)->rows;
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
    k->binary_block(op->kind, a, b, d, n);
    cpu_commit(dtype, out, j0, d, n);
  }
  return KILN_OK;
}

KILN_CPU_OP(binary, binary, NULL);
