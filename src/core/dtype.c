/* Element sizes, names, and round-to-nearest-even conversions between f32
 * and the two 16-bit float formats, done on bit patterns so the result does
 * not depend on the compiler's _Float16 support. */
#include "internal.h"

#include <string.h>

size_t kiln_dtype_size(kiln_dtype dtype) {
  switch (dtype) {
  case KILN_F32: return 4;
  case KILN_F16:
  case KILN_BF16: return 2;
  case KILN_I32: return 4;
  }
  return 0;
}

const char *kiln_dtype_name(kiln_dtype dtype) {
  switch (dtype) {
  case KILN_F32: return "f32";
  case KILN_F16: return "f16";
  case KILN_BF16: return "bf16";
  case KILN_I32: return "i32";
  }
  return "?";
}

static inline uint32_t bits_of(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static inline float float_of(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* cond ? a : b on bits. Every case below is computed for each element and
 * picked without a branch, so the block loops vectorize (GCC will not
 * vectorize a float ?: while FP exceptions may trap, its default). */
static inline uint32_t pick(bool cond, uint32_t a, uint32_t b) {
  uint32_t mask = -(uint32_t)cond;
  return (a & mask) | (b & ~mask);
}

static inline float widen_half(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t magnitude = h & 0x7fffu;
  uint32_t normal = (magnitude << 13) + (112u << 23); /* exponent bias 15 -> 127 */
  uint32_t inf_nan = (magnitude << 13) | 0x7f800000u;
  /* A subnormal half is its mantissa times 2^-24: exact in f32. */
  uint32_t subnormal = bits_of((float)magnitude * 0x1p-24f);
  uint32_t r = pick(magnitude >= 0x7c00u, inf_nan,
                        pick(magnitude >= 0x0400u, normal, subnormal));
  return float_of(sign | r);
}

static inline uint16_t narrow_half(float f) {
  uint32_t u = bits_of(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  uint32_t nan = 0x7e00u | ((a >> 13) & 0x3ffu);
  /* Normal halves: rebias the exponent (127 -> 15), then drop 13 bits,
   * adding just under half of them plus the lowest kept bit so ties go
   * to even; a carry into the exponent is the right answer. */
  uint32_t normal = (a - (112u << 23) + 0xfffu + ((a >> 13) & 1u)) >> 13;
  /* Subnormal halves: |f| * 2^24 rounded to an integer is the mantissa;
   * adding 2^23 makes the FPU do that rounding, ties to even. A result of
   * 1024 is the smallest normal half, as it should be. */
  uint32_t subnormal = bits_of(float_of(a) * 0x1p24f + 0x1p23f) - bits_of(0x1p23f);
  uint32_t r = pick(a >= 0x38800000u, normal, subnormal); /* 2^-14 and up */
  r = pick(a >= 0x477ff000u, 0x7c00u, r);                 /* rounds to >= 65520: inf */
  r = pick(a > 0x7f800000u, nan, r);
  return (uint16_t)(sign | r);
}

static inline uint16_t narrow_bf16(float f) {
  uint32_t u = bits_of(f);
  uint32_t nan = (u >> 16) | 0x0040u; /* keep it a quiet NaN */
  uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return (uint16_t)pick((u & 0x7fffffffu) > 0x7f800000u, nan, rounded);
}

void kiln_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = narrow_half(src[i]);
}

void kiln_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = widen_half(src[i]);
}

void kiln_f32_to_bf16(const float *src, uint16_t *dst, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = narrow_bf16(src[i]);
}

void kiln_bf16_to_f32(const uint16_t *src, float *dst, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = float_of((uint32_t)src[i] << 16);
}
