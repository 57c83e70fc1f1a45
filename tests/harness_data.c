/* Random numbers, the independent 16-bit decoders, and moving values
 * between the host (as doubles) and tensors. */
#include "harness.h"

#include <math.h>
#include <string.h>

/* xorshift64*: small, fast, and good enough for test inputs. */
uint64_t kt_rand(kt_env *env) {
  uint64_t x = env->rng ? env->rng : 0x2545f4914f6cdd1dull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  env->rng = x;
  return x * 0x2545f4914f6cdd1dull;
}

double kt_uniform(kt_env *env, double lo, double hi) {
  double u = (double)(kt_rand(env) >> 11) * 0x1p-53; /* [0, 1) */
  return lo + (hi - lo) * u;
}

/* binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Decoded with
 * ldexp from the fields, not by shifting into an f32 pattern as a converter
 * would, so a shared mistake cannot hide. */
double kt_f16_value(uint16_t h) {
  int sign = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  double v;
  if (e == 0x1f)
    v = m ? NAN : INFINITY;
  else if (e == 0)
    v = ldexp(m, -24); /* subnormal: m * 2^-14 * 2^-10 */
  else
    v = ldexp(1024 + m, e - 25); /* (1 + m/2^10) * 2^(e-15) */
  return sign ? -v : v;
}

/* bfloat16: 1 sign, 8 exponent (bias 127), 7 mantissa bits. */
double kt_bf16_value(uint16_t h) {
  int sign = h >> 15, e = (h >> 7) & 0xff, m = h & 0x7f;
  double v;
  if (e == 0xff)
    v = m ? NAN : INFINITY;
  else if (e == 0)
    v = ldexp(m, -133); /* subnormal: m * 2^-126 * 2^-7 */
  else
    v = ldexp(128 + m, e - 134); /* (1 + m/2^7) * 2^(e-127) */
  return sign ? -v : v;
}

static size_t numel_of(const kiln_tensor *t) { return (size_t)kiln_tensor_numel(t); }

void kt_write(kt_env *env, kiln_tensor *t, double *vals) {
  size_t n = numel_of(t);
  float *f = kt_alloc(n * sizeof *f);
  for (size_t i = 0; i < n; i++)
    f[i] = (float)vals[i];
  const void *src = f;
  if (kiln_tensor_dtype(t) != KILN_F32) {
    uint16_t *w = kt_alloc(n * sizeof *w);
    if (kiln_tensor_dtype(t) == KILN_F16)
      kiln_f32_to_f16(f, w, n);
    else
      kiln_f32_to_bf16(f, w, n);
    for (size_t i = 0; i < n; i++)
      vals[i] = kiln_tensor_dtype(t) == KILN_F16 ? kt_f16_value(w[i]) : kt_bf16_value(w[i]);
    src = w;
  } else {
    for (size_t i = 0; i < n; i++)
      vals[i] = f[i];
  }
  KT_OK(env, kiln_tensor_write(t, src, kiln_tensor_nbytes(t)));
}

double *kt_random(kt_env *env, kiln_tensor *t, double lo, double hi) {
  size_t n = numel_of(t);
  double *vals = kt_alloc(n * sizeof *vals);
  for (size_t i = 0; i < n; i++)
    vals[i] = kt_uniform(env, lo, hi);
  kt_write(env, t, vals);
  return vals;
}

double *kt_read(kt_env *env, const kiln_tensor *t) {
  size_t n = numel_of(t), nbytes = kiln_tensor_nbytes(t);
  unsigned char *raw = kt_alloc(nbytes);
  double *vals = kt_alloc(n * sizeof *vals);
  KT_OK(env, kiln_tensor_read(t, raw, nbytes));
  for (size_t i = 0; i < n; i++) {
    if (kiln_tensor_dtype(t) == KILN_F32) {
      float f;
      memcpy(&f, raw + 4 * i, 4);
      vals[i] = f;
    } else {
      uint16_t w;
      memcpy(&w, raw + 2 * i, 2);
      vals[i] = kiln_tensor_dtype(t) == KILN_F16 ? kt_f16_value(w) : kt_bf16_value(w);
    }
  }
  return vals;
}

void kt_poison(kt_env *env, kiln_tensor *t) {
  size_t n = numel_of(t);
  if (kiln_tensor_dtype(t) == KILN_F32) {
    uint32_t *w = kt_alloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++)
      w[i] = 0x7fc00000u;
    KT_OK(env, kiln_tensor_write(t, w, n * sizeof *w));
  } else {
    uint16_t *w = kt_alloc(n * sizeof *w);
    uint16_t nan = kiln_tensor_dtype(t) == KILN_F16 ? 0x7e00u : 0x7fc0u;
    for (size_t i = 0; i < n; i++)
      w[i] = nan;
    KT_OK(env, kiln_tensor_write(t, w, n * sizeof *w));
  }
}
