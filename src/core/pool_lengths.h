/*
 * The sequences of a mean_pool op (kiln_mean_pool_op in backend.h), read
 * from a host copy of its int32 lengths: where each sequence's rows start
 * and how many there are. Shared by the CPU kernel and the composite path,
 * so both check the contents the same way and name a bad entry alike.
 */
#ifndef KILN_CORE_POOL_LENGTHS_H
#define KILN_CORE_POOL_LENGTHS_H

#include "backend.h"

#include <stdint.h>

/* KILN_OK when the contents of len (the op's lengths, on the host; NULL
 * when the op has none) are valid, else KILN_ERR_INVALID_ARGUMENT naming
 * the first bad entry: cu_seqlens[0] = 0, never decreasing, the last equal
 * to the op's total rows; or 0 <= seqlens[b] <= seq. */
kiln_status kiln_mean_pool_check_lengths(const kiln_mean_pool_op *op, const int32_t *len);

/* Sequence b of a checked op: its first row of x and its row count. */
static inline void kiln_mean_pool_sequence(const kiln_mean_pool_op *op, const int32_t *len,
                                           int64_t b, int64_t *start, int64_t *count) {
  if (op->varlen) {
    *start = len[b];
    *count = (int64_t)len[b + 1] - len[b];
  } else {
    *start = b * op->seq;
    *count = len ? len[b] : op->seq;
  }
}

#endif /* KILN_CORE_POOL_LENGTHS_H */
