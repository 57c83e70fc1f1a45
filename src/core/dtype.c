/* Element sizes, names, and round-to-nearest-even conversions between f32
 * and the two 16-bit float formats. Done on bit patterns so the result does
 * not depend on the compiler's _Float16 support or the FPU's rounding mode. */
#include "internal.h"

#include <string.h>

size_t kiln_dtype_size(kiln_dtype dtype) {
  switch (dtype) {
  case KILN_F32: return 4;
  case KILN_F16:
  case KILN_BF16: return 2;
  }
  return 0;
}

const char *kiln_dtype_name(kiln_dtype dtype) {
  switch (dtype) {
  case KILN_F32: return "f32";
  case KILN_F16: return "f16";
  case KILN_BF16: return "bf16";
  }
  return "?";
}

static uint32_t bits_of(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static float float_of(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

float kiln_bf16_to_float(uint16_t h) { return float_of((uint32_t)h << 16); }

uint16_t kiln_float_to_bf16(float f) {
  uint32_t u = bits_of(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it quiet and a NaN */
    return (uint16_t)((u >> 16) | 0x0040u);
  /* Adding 0x7fff plus the lowest kept bit rounds ties to even; a carry into
   * the exponent is the right answer, up to inf. */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float kiln_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) /* inf or NaN */
    return float_of(sign | 0x7f800000u | (man << 13));
  if (exp == 0) { /* zero or subnormal: man * 2^-24, exact in f32 */
    float v = (float)man * 0x1p-24f;
    return sign ? -v : v;
  }
  return float_of(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t kiln_float_to_half(float f) {
  uint32_t u = bits_of(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) /* NaN */
    return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u) /* rounds to 65520 or more: inf */
    return (uint16_t)(sign | 0x7c00u);
  if (a < 0x38800000u) { /* below 2^-14: a subnormal half (or zero) */
    /* Adding 0.5 makes the FPU round the mantissa into the low bits with
     * ties to even, since 0.5 has the ulp 2^-24 of a half subnormal. */
    float r = float_of(a) + 0.5f;
    return (uint16_t)(sign | (uint16_t)(bits_of(r) - bits_of(0.5f)));
  }
  /* Normal: rebias the exponent (127 -> 15) and round 13 dropped bits. */
  uint32_t rounded = a + 0xfffu + ((a >> 13) & 1u) - (112u << 23);
  return (uint16_t)(sign | (rounded >> 13));
}

void kiln_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = kiln_float_to_half(src[i]);
}

void kiln_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = kiln_half_to_float(src[i]);
}

void kiln_f32_to_bf16(const float *src, uint16_t *dst, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = kiln_float_to_bf16(src[i]);
}

void kiln_bf16_to_f32(const uint16_t *src, float *dst, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = kiln_bf16_to_float(src[i]);
}
