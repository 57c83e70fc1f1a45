/*
 * Softmax over the last axis, one row per loop iteration: the row max, the
 * sum of exponentials, then the normalized row, each pass CPU_BLOCK
 * elements at a time so 16-bit rows of any length widen into a stack buffer.
 */
#include "cpu.h"

#include <math.h>
#include <string.h>

/* e^t for t <= 0, the shifted logits, in plain arithmetic so loops over it
 * vectorize (libm's expf does not without -ffast-math). t = n ln2 + r with
 * |r| <= ln2/2; e^r by its Taylor series to r^7 (truncation under 1e-8
 * relative); 2^n built in the exponent bits. Below -87, where 2^n would
 * leave the normal range, the result is 0, so -inf gives exactly 0; NaN
 * stays NaN. */
static inline float exp_nonpositive(float t) {
  const float lowest = -87.0f;
  const float round_magic = 0x1.8p23f; /* adding it rounds to an integer */
  float c = cpu_float(cpu_pick(t < lowest, cpu_bits(lowest), cpu_bits(t)));
  float shifted = c * 1.44269504f + round_magic;
  float n = shifted - round_magic;
  float r = (c - n * 0.693145751953125f) - n * 1.428606765330187e-6f; /* ln2 in two parts */
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  /* shifted's low mantissa bits hold n; move it into the exponent field. In
   * unsigned arithmetic a NaN's bits give a garbage exponent, never UB, and
   * p is NaN then anyway. */
  float pow2 = cpu_float((cpu_bits(shifted) - cpu_bits(round_magic) + 127u) << 23);
  return cpu_float(cpu_pick(t < lowest, 0, cpu_bits(p * pow2)));
}

/* Float bits as an int32 ordered like the floats (NaN above +inf), so the
 * row max is an integer max, which vectorizes without fast-math. */
static inline int32_t order_key(float f) {
  int32_t i = (int32_t)cpu_bits(f);
  return i < 0 ? i ^ INT32_MAX : i;
}

static inline float from_order_key(int32_t key) {
  return cpu_float((uint32_t)(key < 0 ? key ^ INT32_MAX : key));
}

/* Columns of row r that the causal mask leaves visible (all without it). */
static int64_t visible_columns(const kiln_softmax_op *op, int64_t r) {
  if (!op->causal)
    return op->cols;
  int64_t last = r % op->sq + (op->cols - op->sq); /* last visible column */
  return last < 0 ? 0 : last >= op->cols ? op->cols : last + 1;
}

/* -inf for an empty row. */
static float row_max(kiln_dtype dtype, const void *x, int64_t len, float *buf) {
  int32_t max = order_key(-INFINITY);
  for (int64_t j0 = 0; j0 < len; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(len, j0);
    const float *v = cpu_load(dtype, x, j0, n, buf);
    for (size_t j = 0; j < n; j++) {
      int32_t key = order_key(v[j]);
      max = key > max ? key : max;
    }
  }
  return from_order_key(max);
}

static float block_sum(const float *v, size_t n) {
  float lanes[CPU_LANES] = {0};
  size_t j = 0;
  for (; j + CPU_LANES <= n; j += CPU_LANES)
    for (int l = 0; l < CPU_LANES; l++)
      lanes[l] += v[j + l];
  float sum = 0.0f;
  for (; j < n; j++)
    sum += v[j];
  for (int l = 0; l < CPU_LANES; l++)
    sum += lanes[l];
  return sum;
}

/* The sum of e^(scale (x - max)) over the visible columns; blocks sum in
 * f32 lanes, the row in double, so long rows lose nothing to the running
 * sum. f32 rows keep each exponential in out for normalize; 16-bit outputs
 * cannot hold them unrounded, so normalize computes them again. x and out
 * may be the same row: each element is read before it is written. */
static double exp_sum(kiln_dtype dtype, const void *x, void *out, int64_t len, float scale,
                      float max, float *buf) {
  float e_buf[CPU_BLOCK];
  double total = 0.0;
  for (int64_t j0 = 0; j0 < len; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(len, j0);
    const float *v = cpu_load(dtype, x, j0, n, buf);
    float *e = cpu_target(dtype, out, j0, e_buf);
    for (size_t j = 0; j < n; j++)
      e[j] = exp_nonpositive(scale * (v[j] - max));
    total += block_sum(e, n);
  }
  return total;
}

/* out = e^(scale (x - max)) * inv over the visible columns. */
static void normalize(kiln_dtype dtype, const void *x, void *out, int64_t len, float scale,
                      float max, float inv, float *buf) {
  if (dtype == KILN_F32) {
    float *o = out;
    for (int64_t j = 0; j < len; j++)
      o[j] *= inv;
    return;
  }
  for (int64_t j0 = 0; j0 < len; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(len, j0);
    const float *v = cpu_load(dtype, x, j0, n, buf);
    for (size_t j = 0; j < n; j++)
      buf[j] = exp_nonpositive(scale * (v[j] - max)) * inv;
    cpu_commit(dtype, out, j0, buf, n);
  }
}

/* Masked rows work on logits z = scale * x + mask, one block at a time into
 * z (16-bit rows of x and mask widened through xb and mb first). */
static const float *mask_logits(const kiln_softmax_op *op, const void *x, const void *mask,
                                int64_t j0, size_t n, float *z, float *xb, float *mb) {
  const float *v = cpu_load(op->dtype, x, j0, n, xb);
  const float *m = cpu_load(op->dtype, mask, j0, n, mb);
  for (size_t j = 0; j < n; j++)
    z[j] = op->scale * v[j] + m[j];
  return z;
}

/* The same three passes as below, on z: its max, the sum of e^(z - max) in
 * double, then out = e^(z - max) / sum. z is recomputed in each pass rather
 * than stored, so a row of any length needs only stack blocks. */
static void masked_row(const kiln_softmax_op *op, const void *x, void *out, const void *mask,
                       int64_t len) {
  float z[CPU_BLOCK], xb[CPU_BLOCK], mb[CPU_BLOCK];
  int32_t max_key = order_key(-INFINITY);
  for (int64_t j0 = 0; j0 < len; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(len, j0);
    mask_logits(op, x, mask, j0, n, z, xb, mb);
    for (size_t j = 0; j < n; j++) {
      int32_t key = order_key(z[j]);
      max_key = key > max_key ? key : max_key;
    }
  }
  const float max = from_order_key(max_key);
  const size_t esize = kiln_dtype_size(op->dtype);
  if (max == -INFINITY) {
    memset(out, 0, (size_t)op->cols * esize);
    return;
  }
  double total = 0.0;
  for (int64_t j0 = 0; j0 < len; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(len, j0);
    mask_logits(op, x, mask, j0, n, z, xb, mb);
    for (size_t j = 0; j < n; j++)
      z[j] = exp_nonpositive(z[j] - max);
    total += block_sum(z, n);
  }
  const float inv = (float)(1.0 / total);
  for (int64_t j0 = 0; j0 < len; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(len, j0);
    mask_logits(op, x, mask, j0, n, z, xb, mb);
    float *d = cpu_target(op->dtype, out, j0, xb);
    for (size_t j = 0; j < n; j++)
      d[j] = exp_nonpositive(z[j] - max) * inv;
    cpu_commit(op->dtype, out, j0, d, n);
  }
  memset((char *)out + (size_t)len * esize, 0, (size_t)(op->cols - len) * esize);
}

static void softmax_row(const kiln_softmax_op *op, int64_t r) {
  const kiln_dtype dtype = op->dtype;
  const size_t offset = cpu_row_offset(dtype, r, op->cols), esize = kiln_dtype_size(dtype);
  const void *x = (const char *)op->x->data + offset;
  void *out = (char *)op->out->data + offset;
  const int64_t len = visible_columns(op, r);
  if (op->mask) {
    masked_row(op, x, out, (const char *)op->mask->data +
                               cpu_row_offset(dtype, r / op->mask_group, op->cols), len);
    return;
  }
  float buf[CPU_BLOCK];
  /* scale > 0, so the max of x is where scale * x peaks too. */
  const float max = row_max(dtype, x, len, buf);
  if (max == -INFINITY) { /* every entry masked or -inf: zeros, not 0/0 */
    memset(out, 0, (size_t)op->cols * esize);
    return;
  }
  const float inv = (float)(1.0 / exp_sum(dtype, x, out, len, op->scale, max, buf));
  normalize(dtype, x, out, len, op->scale, max, inv, buf);
  /* 0.0 is all zero bits in f32, f16 and bf16 alike. */
  memset((char *)out + (size_t)len * esize, 0, (size_t)(op->cols - len) * esize);
}

kiln_status cpu_softmax(void *state, const kiln_softmax_op *op) {
  (void)state;
  const int64_t rows = op->rows;
#pragma omp parallel for schedule(static) if (rows * op->cols > CPU_PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++)
    softmax_row(op, r);
  return KILN_OK;
}
