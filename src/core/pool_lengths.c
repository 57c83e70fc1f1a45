/* The contents check of a mean_pool op's lengths (see pool_lengths.h): the
 * messages the GPU's deferred errors give too (deferred.c), here at once. */
#include "pool_lengths.h"

#include "internal.h"

static const char *const FN = "kiln_mean_pool";

kiln_status kiln_mean_pool_check_lengths(const kiln_mean_pool_op *op, const int32_t *len) {
  if (!op->varlen) {
    if (!len)
      return KILN_OK;
    for (int64_t b = 0; b < op->batch; b++)
      if (len[b] < 0 || len[b] > op->seq)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                         "%s: seqlens[%lld] is %d; it must be in [0, %lld], the padded length",
                         FN, (long long)b, (int)len[b], (long long)op->seq);
    return KILN_OK;
  }
  if (len[0] != 0)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: cu_seqlens[0] is %d; it must be 0", FN,
                     (int)len[0]);
  for (int64_t b = 0; b < op->batch; b++)
    if (len[b + 1] < len[b])
      return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                       "%s: cu_seqlens[%lld] is %d but cu_seqlens[%lld] is %d; offsets must "
                       "not decrease", FN, (long long)(b + 1), (int)len[b + 1], (long long)b,
                       (int)len[b]);
  if (len[op->batch] != op->total)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "%s: cu_seqlens[%lld] is %d but x holds %lld token rows; the last offset "
                     "must equal them", FN, (long long)op->batch, (int)len[op->batch],
                     (long long)op->total);
  return KILN_OK;
}
