/* Element sizes, names, and the public block conversions between f32 and
 * the two 16-bit float formats (float_bits.h does each element). */
#include "float_bits.h"
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

void kiln_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = kiln_half_narrow(src[i]);
}

void kiln_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = kiln_half_widen(src[i]);
}

void kiln_f32_to_bf16(const float *src, uint16_t *dst, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = kiln_bf16_narrow(src[i]);
}

void kiln_bf16_to_f32(const uint16_t *src, float *dst, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = kiln_bf16_widen(src[i]);
}
