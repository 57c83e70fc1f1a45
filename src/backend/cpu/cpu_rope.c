/*
 * Rotary position embedding. The cos/sin table for the call's positions is
 * computed once into scratch ([seq, rotary_dims / 2] of each), with the
 * angle defined as in Hugging Face transformers: f32 inverse frequencies
 * 1 / base^(2i / rotary_dims), times the position as f32, in f32; then
 * libm's correctly rounded-ish cosf/sinf of that f32 angle. Rows then
 * rotate their pairs CPU_BLOCK at a time; each pair is read before either
 * of its elements is written, so out may be x.
 */
#include "cpu.h"

#include <math.h>

static void angle_table(const kiln_rope_op *op, int64_t half, float *cos_t, float *sin_t) {
  for (int64_t s = 0; s < op->seq; s++) {
    const float pos = (float)(op->position_offset + s);
    for (int64_t i = 0; i < half; i++) {
      float inv_freq = kiln_rope_inv_freq(op->base, i, op->rotary_dims);
      float angle = pos * inv_freq;
      cos_t[s * half + i] = cosf(angle);
      sin_t[s * half + i] = sinf(angle);
    }
  }
}

/* Pairs (i, i + half) for i in [i0, i0 + n). */
static void rotate_half_block(kiln_dtype dtype, const void *x, void *out, int64_t half,
                              int64_t i0, size_t n, const float *c, const float *s) {
  float b1[CPU_BLOCK], b2[CPU_BLOCK], o1[CPU_BLOCK], o2[CPU_BLOCK];
  const float *v1 = cpu_load(dtype, x, i0, n, b1), *v2 = cpu_load(dtype, x, half + i0, n, b2);
  float *d1 = cpu_target(dtype, out, i0, o1), *d2 = cpu_target(dtype, out, half + i0, o2);
  for (size_t j = 0; j < n; j++) {
    const float a = v1[j], b = v2[j];
    d1[j] = a * c[i0 + j] - b * s[i0 + j];
    d2[j] = b * c[i0 + j] + a * s[i0 + j];
  }
  cpu_commit(dtype, out, i0, d1, n);
  cpu_commit(dtype, out, half + i0, d2, n);
}

/* Pairs (2i, 2i + 1) for i in [i0, i0 + n); n <= CPU_BLOCK / 2. */
static void interleaved_block(kiln_dtype dtype, const void *x, void *out, int64_t i0, size_t n,
                              const float *c, const float *s) {
  float buf[CPU_BLOCK], o[CPU_BLOCK];
  const float *v = cpu_load(dtype, x, 2 * i0, 2 * n, buf);
  float *d = cpu_target(dtype, out, 2 * i0, o);
  for (size_t j = 0; j < n; j++) {
    const float a = v[2 * j], b = v[2 * j + 1];
    d[2 * j] = a * c[i0 + j] - b * s[i0 + j];
    d[2 * j + 1] = b * c[i0 + j] + a * s[i0 + j];
  }
  cpu_commit(dtype, out, 2 * i0, d, 2 * n);
}

static void rope_row(const kiln_rope_op *op, const void *x, void *out, const float *c,
                     const float *s) {
  const int64_t half = op->rotary_dims / 2;
  const int64_t step = op->interleaved ? CPU_BLOCK / 2 : CPU_BLOCK;
  for (int64_t i0 = 0; i0 < half; i0 += step) {
    size_t n = (size_t)(half - i0 < step ? half - i0 : step);
    if (op->interleaved)
      interleaved_block(op->dtype, x, out, i0, n, c, s);
    else
      rotate_half_block(op->dtype, x, out, half, i0, n, c, s);
  }
  const size_t esize = kiln_dtype_size(op->dtype), done = (size_t)op->rotary_dims * esize;
  if (out != x) /* the dims past rotary_dims pass through */
    memcpy((char *)out + done, (const char *)x + done, (size_t)op->d * esize - done);
}

static kiln_status rope(void *state, const kiln_rope_op *op) {
  const int64_t half = op->rotary_dims / 2, rows = op->outer * op->seq * op->inner;
  float *table = kiln_cpu_scratch(state, 2 * (size_t)(op->seq * half), "kiln_rope");
  if (!table)
    return KILN_ERR_OUT_OF_MEMORY;
  float *cos_t = table, *sin_t = table + op->seq * half;
  angle_table(op, half, cos_t, sin_t);
#pragma omp parallel for schedule(static) if (rows * op->d > CPU_PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t s = (r / op->inner) % op->seq;
    const size_t offset = cpu_row_offset(op->dtype, r, op->d);
    rope_row(op, (const char *)op->x->data + offset, (char *)op->out->data + offset,
             cos_t + s * half, sin_t + s * half);
  }
  return KILN_OK;
}

KILN_CPU_OP(rope, rope, NULL);
