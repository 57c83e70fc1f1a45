/*
 * The sequences of an attention op (kiln_attention_op in backend.h), read
 * from host copies of its int32 length tensors: where each sequence's rows
 * start and how many queries and keys it has. Shared by the CPU kernel and
 * the composite path, so both check the contents the same way and report a
 * bad entry with the same message.
 */
#ifndef KILN_CORE_ATTENTION_LENGTHS_H
#define KILN_CORE_ATTENTION_LENGTHS_H

#include "backend.h"

#include <stdint.h>

/* Host copies of the op's length tensors; NULL where the op has none
 * (cu_k is cu_q's values when the op's cu_seqlens_k is the same tensor). */
typedef struct kiln_attention_lengths {
  const int32_t *cu_q, *cu_k, *seqlens_k;
} kiln_attention_lengths;

/* One sequence: its first query row and key row (token rows of q and k),
 * lq queries and lk keys (seqlens_k[b] when given: the keys it attends to). */
typedef struct kiln_attention_seq {
  int64_t q_start, k_start, lq, lk;
} kiln_attention_seq;

/* "kiln_attention" or "kiln_attention_packed": packed ops read k at a
 * nonzero offset into qkv, unpacked ones never do. */
const char *kiln_attention_fn(const kiln_attention_op *op);

/* KILN_OK when the contents are valid (see kiln_attention_op), else
 * KILN_ERR_INVALID_ARGUMENT naming the first bad entry. */
kiln_status kiln_attention_check_lengths(const kiln_attention_op *op,
                                         const kiln_attention_lengths *len);

/* Sequence b of a checked op. */
static inline kiln_attention_seq kiln_attention_sequence(const kiln_attention_op *op,
                                                         const kiln_attention_lengths *len,
                                                         int64_t b) {
  kiln_attention_seq s;
  if (len->cu_q) {
    s.q_start = len->cu_q[b];
    s.lq = len->cu_q[b + 1] - s.q_start;
    s.k_start = len->cu_k[b];
    s.lk = len->cu_k[b + 1] - s.k_start;
  } else {
    s.q_start = b * op->sq;
    s.lq = op->sq;
    s.k_start = b * op->sk;
    s.lk = op->sk;
  }
  if (len->seqlens_k)
    s.lk = len->seqlens_k[b];
  return s;
}

#endif /* KILN_CORE_ATTENTION_LENGTHS_H */
