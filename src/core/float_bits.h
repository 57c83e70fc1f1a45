/*
 * Float bit patterns and the per-element conversions between f32 and the
 * 16-bit float formats (round to nearest even, NaN kept a quiet NaN,
 * overflow to inf), inline so that every loop converting a block (the
 * core's public converters, both builds of the CPU row kernels) vectorizes
 * at its own width. Done on bits so the result does not depend on the
 * compiler's _Float16 support.
 */
#ifndef KILN_CORE_FLOAT_BITS_H
#define KILN_CORE_FLOAT_BITS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t kiln_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static inline float kiln_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* cond ? a : b on bits. Every case below is computed for each element and
 * picked without a branch, so the block loops vectorize (GCC will not
 * vectorize a float ?: while FP exceptions may trap, its default). */
static inline uint32_t kiln_pick(bool cond, uint32_t a, uint32_t b) {
  uint32_t mask = -(uint32_t)cond;
  return (a & mask) | (b & ~mask);
}

static inline float kiln_half_widen(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t magnitude = h & 0x7fffu;
  uint32_t normal = (magnitude << 13) + (112u << 23); /* exponent bias 15 -> 127 */
  uint32_t inf_nan = (magnitude << 13) | 0x7f800000u;
  /* A subnormal half is its mantissa times 2^-24: exact in f32. */
  uint32_t subnormal = kiln_bits((float)magnitude * 0x1p-24f);
  uint32_t r = kiln_pick(magnitude >= 0x7c00u, inf_nan,
                        kiln_pick(magnitude >= 0x0400u, normal, subnormal));
  return kiln_float(sign | r);
}

static inline uint16_t kiln_half_narrow(float f) {
  uint32_t u = kiln_bits(f);
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
  uint32_t subnormal = kiln_bits(kiln_float(a) * 0x1p24f + 0x1p23f) - kiln_bits(0x1p23f);
  uint32_t r = kiln_pick(a >= 0x38800000u, normal, subnormal); /* 2^-14 and up */
  r = kiln_pick(a >= 0x477ff000u, 0x7c00u, r);                 /* rounds to >= 65520: inf */
  r = kiln_pick(a > 0x7f800000u, nan, r);
  return (uint16_t)(sign | r);
}

static inline uint16_t kiln_bf16_narrow(float f) {
  uint32_t u = kiln_bits(f);
  uint32_t nan = (u >> 16) | 0x0040u; /* keep it a quiet NaN */
  uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return (uint16_t)kiln_pick((u & 0x7fffffffu) > 0x7f800000u, nan, rounded);
}

static inline float kiln_bf16_widen(uint16_t h) { return kiln_float((uint32_t)h << 16); }

#endif /* KILN_CORE_FLOAT_BITS_H */
