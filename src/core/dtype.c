/* The dtype table, and the public block conversions between f32 and the
 * two 16-bit float formats (float_bits.h does each element). */
#include "float_bits.h"
#include "internal.h"

#include <string.h>

/* Designated rows, and no length given: a kiln_dtype added at the end of
 * the enum without a row here makes the table one short, which the
 * assertion below refuses (test_core checks that no row in the middle is
 * left empty). */
const kiln_dtype_info kiln_dtypes[] = {
    [KILN_F32] = {"f32", 4, true, KILN_WIDEN_NONE},
    [KILN_F16] = {"f16", 2, true, KILN_WIDEN_HALF},
    [KILN_BF16] = {"bf16", 2, true, KILN_WIDEN_BF16},
    [KILN_I32] = {"i32", 4, false, KILN_WIDEN_NEVER},
};
_Static_assert(sizeof kiln_dtypes / sizeof kiln_dtypes[0] == KILN_DTYPE_COUNT,
               "every kiln_dtype needs its row in kiln_dtypes");

static bool known(kiln_dtype dtype) { return (unsigned)dtype < KILN_DTYPE_COUNT; }

size_t kiln_dtype_size(kiln_dtype dtype) { return known(dtype) ? kiln_dtypes[dtype].size : 0; }

const char *kiln_dtype_name(kiln_dtype dtype) {
  return known(dtype) ? kiln_dtypes[dtype].name : "?";
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
