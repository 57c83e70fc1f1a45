/*
 * The hot row loops of softmax and RMSNorm, written once in plain C that
 * the compiler vectorizes, and compiled once per instruction set: by
 * kiln_cpu_rows_base.c for the x86-64-v2 baseline the library is built for, and
 * by kiln_cpu_rows_avx2.c with AVX2 enabled for machines that have it
 * (cpu_create picks one table per context). Each includer defines
 * CPU_ROWS_TABLE, the name of its cpu_row_kernels table, before including
 * this file.
 *
 * Both variants round every operation the same way (no FMA contraction:
 * the build is ISO C, so GCC contracts nothing, and nothing here calls
 * fmaf), and reductions use CPU_LANES fixed lanes, so results are the same
 * bits on every machine whichever variant runs. The exception is the fused
 * attention tiles (cpu_attention_tile.h, included at the end): their
 * multiply-adds are FMA in the wide builds, which agree with the baseline
 * within rounding.
 */
#include "cpu.h"

#include <float.h>
#include <math.h>
#include <string.h>

#ifndef CPU_ROWS_TABLE
#error "define CPU_ROWS_TABLE before including cpu_rows.h"
#endif

/* e^t for t <= 0, the shifted logits, in plain arithmetic so loops over it
 * vectorize (libm's expf does not without -ffast-math). t = n ln2 + r with
 * |r| <= ln2/2 (ln2 in two parts, the first short enough that n * it is
 * exact); e^r = 1 + r + r^2 p(r), p the degree-5 minimax fit of Cephes'
 * expf (about 1 ulp over the range); 2^n built in the exponent bits. Below
 * -87, where e^t nears the subnormal range (e^-87 is 1.4 FLT_MIN), the
 * result is 0 (an absolute error under FLT_MIN, and no slow subnormal
 * arithmetic after it), so -inf gives exactly 0; NaN stays NaN. */
static inline float exp_nonpositive(float t) {
  const float lowest = -87.0f;
  const float round_magic = 0x1.8p23f; /* adding it rounds to an integer */
  float c = kiln_float(kiln_pick(t < lowest, kiln_bits(lowest), kiln_bits(t)));
  float shifted = c * 1.44269504f + round_magic;
  float n = shifted - round_magic;
  float r = (c - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  /* shifted's low mantissa bits hold n; move it into the exponent field. In
   * unsigned arithmetic a NaN's bits give a garbage exponent, never UB, and
   * p is NaN then anyway. */
  float pow2 = kiln_float((kiln_bits(shifted) - kiln_bits(round_magic) + 127u) << 23);
  return kiln_float(kiln_pick(t < lowest, 0, kiln_bits(p * pow2)));
}

/* Float bits as an int32 ordered like the floats, so the row max is an
 * integer max, which vectorizes without fast-math. Every NaN, whatever its
 * sign bit, first becomes the positive quiet NaN, which orders above +inf:
 * a NaN anywhere makes the row max NaN, and the row NaN (kiln.h), where a
 * negative NaN would otherwise sort below -inf and pass for masked. */
static inline int32_t order_key(float f) {
  const uint32_t u = kiln_bits(f);
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  const int32_t i = (int32_t)kiln_pick(nan, 0x7fc00000u, u);
  return i < 0 ? i ^ INT32_MAX : i;
}

static inline float from_order_key(int32_t key) {
  return kiln_float((uint32_t)(key < 0 ? key ^ INT32_MAX : key));
}

/* -inf for an empty row. */
static float row_max(const float *v, int64_t len) {
  int32_t max = order_key(-INFINITY);
  for (int64_t j = 0; j < len; j++) {
    int32_t key = order_key(v[j]);
    max = key > max ? key : max;
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

/* e = e^(scale (v - max)) and its sum: blocks sum in f32 lanes, the row in
 * double, so long rows lose nothing to the running sum. e may be v: each
 * element is read before it is written, in the same iteration, so the loop
 * is safe to run as SIMD lanes, which omp simd asserts (without it clang
 * checks e and v for overlap at run time and, when e is v, runs scalar).
 * A +inf logit gets 1 (its difference from the max, +inf, would be NaN)
 * and, max being +inf then, every finite one 0: the row's +inf entries
 * share it equally, the limit of growing logits (kiln.h). v == max == +inf
 * is the only way a logit is +inf, so the select costs no extra test. */
static double exp_sum(const float *v, float *e, int64_t len, float scale, float max) {
  double total = 0.0;
  for (int64_t j0 = 0; j0 < len; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(len, j0);
    const float *vb = v + j0;
    float *eb = e + j0;
#pragma omp simd
    for (size_t j = 0; j < n; j++)
      eb[j] = kiln_float(kiln_pick(vb[j] == INFINITY, kiln_bits(1.0f),
                                   kiln_bits(exp_nonpositive(scale * (vb[j] - max)))));
    total += block_sum(eb, n);
  }
  return total;
}

/* Columns of row r that the causal mask leaves visible (all without it). */
static int64_t visible_columns(const kiln_softmax_op *op, int64_t r) {
  if (!op->causal)
    return op->cols;
  int64_t last = r % op->sq + (op->cols - op->sq); /* last visible column */
  return last < 0 ? 0 : last >= op->cols ? op->cols : last + 1;
}

/* One softmax row. f32 rows without a mask are read where they lie and
 * their exponentials kept in out; other rows first become f32 logits in z
 * (op->cols floats of the calling thread's scratch): the widened row, or
 * scale * x + mask. Then the row max, e^(scale (v - max)) (scale applied
 * already for masked rows) and its sum, each exponential computed once, and
 * the row times 1 / sum, rounded once into 16-bit outputs. */
static void softmax_row(const kiln_softmax_op *op, int64_t r, float *z) {
  const kiln_dtype dtype = op->dtype;
  const size_t offset = cpu_row_offset(dtype, r, op->cols), esize = kiln_dtype_size(dtype);
  const void *x = (const char *)op->x->data + offset;
  void *out = (char *)op->out->data + offset;
  const int64_t len = visible_columns(op, r);
  const float *v = x;
  float scale = op->scale;
  if (op->mask) {
    const void *mask =
        (const char *)op->mask->data + cpu_row_offset(dtype, r / op->mask_group, op->cols);
    float mb[CPU_BLOCK];
    for (int64_t j0 = 0; j0 < len; j0 += CPU_BLOCK) {
      size_t n = cpu_block_length(len, j0);
      const float *xv = cpu_load(dtype, x, j0, n, z + j0);
      const float *m = cpu_load(dtype, mask, j0, n, mb);
#pragma omp simd /* xv may be z + j0: read before written, as in exp_sum */
      for (size_t j = 0; j < n; j++)
        z[j0 + j] = scale * xv[j] + m[j];
    }
    v = z;
    scale = 1.0f; /* (z - max) * 1 is z - max exactly */
  } else if (!cpu_in_place(dtype)) {
    cpu_widen(dtype, x, z, (size_t)len);
    v = z;
  }
  /* scale > 0, so the max of x is where scale * x peaks too. */
  const float max = row_max(v, len);
  if (max == -INFINITY) { /* every entry masked or -inf: zeros, not 0/0 */
    memset(out, 0, (size_t)op->cols * esize);
    return;
  }
  float *e = cpu_in_place(dtype) ? out : z;
  const float inv = (float)(1.0 / exp_sum(v, e, len, scale, max));
  for (int64_t j = 0; j < len; j++)
    e[j] *= inv;
  if (!cpu_in_place(dtype))
    cpu_narrow(dtype, e, out, (size_t)len);
  if (isnan(inv)) { /* a NaN logit: the whole row is NaN, masked tail too */
    for (int64_t j = len; j < op->cols; j++)
      cpu_store_nan(dtype, out, j);
    return;
  }
  /* 0.0 is all zero bits in f32, f16 and bf16 alike. */
  memset((char *)out + (size_t)len * esize, 0, (size_t)(op->cols - len) * esize);
}

static float block_sum_squares(const float *v, size_t n) {
  float lanes[CPU_LANES] = {0};
  size_t j = 0;
  for (; j + CPU_LANES <= n; j += CPU_LANES)
    for (int l = 0; l < CPU_LANES; l++)
      lanes[l] += v[j + l] * v[j + l];
  float sum = 0.0f;
  for (; j < n; j++)
    sum += v[j] * v[j];
  for (int l = 0; l < CPU_LANES; l++)
    sum += lanes[l];
  return sum;
}

/* The sum of squares of a block whose f32 lanes overflowed (squares of
 * entries above 1.8e19, f32 and bf16 only), again in double, where they
 * cannot: rows of 1e20 normalize to +-1 instead of 0 (kiln.h). Taken only
 * for such blocks, so ordinary rows keep the vectorized f32 loop. */
static double block_sum_squares_double(const float *v, size_t n) {
  double sum = 0.0;
  for (size_t j = 0; j < n; j++)
    sum += (double)v[j] * v[j];
  return sum;
}

/* One RMSNorm row, CPU_BLOCK elements at a time so 16-bit rows of any
 * length widen into a stack buffer: the sum of squares (blocks in f32
 * lanes, overflowed blocks again in double, the row in double), then out =
 * x * inv_rms * weight. x and out may be the same row: each element is
 * read before it is written. A row holding +-inf has inv_rms 0: NaN at the
 * infinities, zeros elsewhere. */
static void rms_norm_row(kiln_dtype dtype, const void *x, void *out, int64_t cols, float eps,
                         const float *weight) {
  float buf[CPU_BLOCK];
  double total = 0.0;
  for (int64_t j0 = 0; j0 < cols; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(cols, j0);
    const float *v = cpu_load(dtype, x, j0, n, buf);
    const float sum = block_sum_squares(v, n);
    total += sum == INFINITY ? block_sum_squares_double(v, n) : sum;
  }
  const float inv_rms = (float)(1.0 / sqrt(total / (double)cols + eps));
  for (int64_t j0 = 0; j0 < cols; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(cols, j0);
    const float *v = cpu_load(dtype, x, j0, n, buf);
    const float *w = weight + j0;
    float *d = cpu_target(dtype, out, j0, buf);
    for (size_t j = 0; j < n; j++)
      d[j] = v[j] * inv_rms * w[j];
    cpu_commit(dtype, out, j0, d, n);
  }
}

/* Independent partial sums per dot product: four AVX (eight SSE) add
 * chains, so the loop runs at load speed instead of add latency (16 lanes
 * measured about 1.8x slower on 2048-wide rows). */
enum { GEMV_LANES = 32 };

/* lanes += x[0..len) * w[0..len) lane by lane, so the loop vectorizes
 * without reassociating one running sum; lanes live across a row's blocks
 * and are folded once, at its end. */
static void dot_block(float *restrict lanes, const float *restrict x, const float *restrict w,
                      size_t len) {
  float acc[GEMV_LANES];
  memcpy(acc, lanes, sizeof acc);
  size_t i = 0;
  for (; i + GEMV_LANES <= len; i += GEMV_LANES)
    for (int l = 0; l < GEMV_LANES; l++)
      acc[l] += x[i + l] * w[i + l];
  for (; i < len; i++)
    acc[i % GEMV_LANES] += x[i] * w[i];
  memcpy(lanes, acc, sizeof acc);
}

/* The sum of GEMV_LANES lanes by halving (vector adds, short dependency). */
static float fold_lanes(float *lanes) {
  for (int half = GEMV_LANES / 2; half > 0; half /= 2)
    for (int l = 0; l < half; l++)
      lanes[l] += lanes[l + half];
  return lanes[0];
}

/* y[r * ldy] += alpha * x[r, :] . w for rows <= CPU_GEMV_MAX_ROWS rows of
 * x; w is one weight row, widened a block at a time and used by every row
 * of x while in L1. */
static void gemv_row(kiln_dtype dtype, int64_t rows, int64_t k, float alpha, const float *x,
                     int64_t ldx, const void *w, float *y, int64_t ldy) {
  float lanes[CPU_GEMV_MAX_ROWS][GEMV_LANES] = {{0}};
  float buf[CPU_BLOCK];
  for (int64_t p0 = 0; p0 < k; p0 += CPU_BLOCK) {
    size_t len = cpu_block_length(k, p0);
    const float *wb = cpu_load(dtype, w, p0, len, buf);
    for (int64_t r = 0; r < rows; r++)
      dot_block(lanes[r], x + r * ldx + p0, wb, len);
  }
  for (int64_t r = 0; r < rows; r++)
    y[r * ldy] += alpha * fold_lanes(lanes[r]);
}

/* v * sigmoid(u) from e^-|u| alone, so the exponential never overflows and
 * the loops vectorize: sigmoid(u) is 1 / (1 + e^-u) for u >= 0 and
 * e^u / (1 + e^u) below. v = -inf (with u = -inf: SiLU, GELU-tanh and
 * SwiGLU's gate at -inf) is taken as -FLT_MAX, so the product is the limit
 * -0 rather than -inf * 0 = NaN (kiln.h); NaN stays NaN. */
static inline float times_sigmoid(float v, float u) {
  v = kiln_float(kiln_pick(v < -FLT_MAX, kiln_bits(-FLT_MAX), kiln_bits(v)));
  const float e = exp_nonpositive(-fabsf(u));
  const float num = kiln_float(kiln_pick(u >= 0.0f, kiln_bits(1.0f), kiln_bits(e)));
  return v * num / (1.0f + e);
}

/* e^(-u^2 / 2) for 0 <= u <= 14, all in f32: u^2 is hi + lo exactly
 * (Dekker's product, u split by Veltkamp into halves of 12 bits whose
 * products are exact, so no FMA is needed and every build rounds alike),
 * and lo comes back as the factor e^(-lo/2) = 1 - lo/2 (|lo| <= 2^-17, the
 * dropped term below 2^-37). Exponentiating the rounded u^2 alone would be
 * off by up to 2^-18 relative near u = 13, tens of ulp. */
static inline float exp_neg_half_square(float u) {
  const float t = 4097.0f * u; /* 2^12 + 1 */
  const float uh = t - (t - u), ul = u - uh;
  const float hi = u * u;
  const float lo = ((uh * uh - hi) + 2.0f * uh * ul) + ul * ul;
  return exp_nonpositive(-0.5f * hi) * (1.0f - 0.5f * lo);
}

/* e^(u^2 / 2) Q(u), Q(u) = erfc(u / sqrt 2) / 2 the normal distribution's
 * upper tail, for 0 <= u <= 14: P / R of degrees 4 and 5, fitted for the
 * least maximum relative error against a high-precision reference on
 * [0, 13.2] (5e-9; beyond 13.2, e^(-u^2 / 2) is 0 in f32 anyway). All
 * coefficients are positive, so Horner's rule adds no cancellation: in f32
 * each polynomial is within a few ulp. */
static inline float normal_tail_scaled(float u) {
  float p = 4.0116648898e-3f;
  p = p * u + 3.9926338819e-2f;
  p = p * u + 1.8113445756e-1f;
  p = p * u + 4.3545239568e-1f;
  p = p * u + 5.0000000245e-1f;
  float r = 1.0055607159e-2f;
  r = r * u + 1.0008795931e-1f;
  r = r * u + 4.6392561339e-1f;
  r = r * u + 1.1937663747e+0f;
  r = r * u + 1.6687897052e+0f;
  r = r * u + 1.0f;
  return p / r;
}

/* GELU, x Phi(x) with Phi the normal CDF, without 1 + erf(x / sqrt 2),
 * which cancels for negative x and leaves tiny outputs with no correct
 * digit: x Q(-x) for x <= 0 and x - x Q(x) above, Q <= 1/2 on both sides.
 * In plain f32 arithmetic so the loop vectorizes 16 wide (libm's erfcf
 * does not, and a double version runs at half the width): at most 8.3 ulp
 * from the exact GELU wherever the result is a normal float (checked on
 * every float with |x| <= 14 against libm's double erfc, the worst near
 * x = -4.19); below
 * x = -13.19, where it is under FLT_MIN, exp_nonpositive makes it 0. x is
 * clamped to [-14, 14] first, where that 0 has set in, so infinite x gives
 * 0 and x, not 0 * inf; NaN stays NaN. */
static inline float gelu_erf(float x) {
  const float top = 14.0f;
  float c = kiln_float(kiln_pick(x < -top, kiln_bits(-top), kiln_bits(x)));
  c = kiln_float(kiln_pick(c > top, kiln_bits(top), kiln_bits(c)));
  const float u = fabsf(c);
  const float cq = c * exp_neg_half_square(u) * normal_tail_scaled(u); /* c Q(u) */
  return kiln_float(kiln_pick(x <= 0.0f, kiln_bits(cq), kiln_bits(x - cq)));
}

static void unary_block(const kiln_unary_op *op, const float *v, float *d, size_t n) {
  const float s = op->scale;
  switch (op->kind) {
  /* Both GELUs are written without 1 + erf(..) or 1 + tanh(..), which
   * cancel for negative x (see gelu_erf): (1 + tanh(z)) / 2 = sigmoid(2z). */
  case KILN_UNARY_GELU_ERF:
    for (size_t j = 0; j < n; j++)
      d[j] = gelu_erf(v[j]);
    break;
  case KILN_UNARY_GELU_TANH:
    for (size_t j = 0; j < n; j++)
      d[j] = times_sigmoid(v[j], 1.5957691216057307f * (v[j] + 0.044715f * v[j] * v[j] * v[j]));
    break;
  case KILN_UNARY_SILU:
    for (size_t j = 0; j < n; j++)
      d[j] = times_sigmoid(v[j], v[j]);
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
      d[j] = times_sigmoid(a[j], a[j]) * b[j];
    break;
  }
}

#include "cpu_attention_tile.h"

const cpu_row_kernels CPU_ROWS_TABLE = {softmax_row, rms_norm_row, gemv_row, unary_block,
                                         binary_block, attention_tile};
