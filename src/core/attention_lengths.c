/* The contents check of an attention op's length tensors (see
 * attention_lengths.h): one message per kind of bad entry, the same on
 * every path that reads them on the host. */
#include "attention_lengths.h"

#include "internal.h"

const char *kiln_attention_fn(const kiln_attention_op *op) {
  return op->k_off != 0 ? "kiln_attention_packed" : "kiln_attention";
}

/* cu[0] = 0, never decreasing, cu[batch] = total, lengths <= max_len. */
static kiln_status check_cu(const char *fn, const char *name, const int32_t *cu, int64_t batch,
                            int64_t total, int64_t max_len, const char *max_name) {
  if (cu[0] != 0)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: %s[0] is %d; it must be 0", fn, name,
                     (int)cu[0]);
  for (int64_t b = 0; b < batch; b++) {
    if (cu[b + 1] < cu[b])
      return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                       "%s: %s[%lld] is %d but %s[%lld] is %d; offsets must not decrease", fn,
                       name, (long long)(b + 1), (int)cu[b + 1], name, (long long)b, (int)cu[b]);
    if ((int64_t)cu[b + 1] - cu[b] > max_len)
      return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                       "%s: %s[%lld] - %s[%lld] is %lld, more than %s = %lld", fn, name,
                       (long long)(b + 1), name, (long long)b,
                       (long long)((int64_t)cu[b + 1] - cu[b]), max_name, (long long)max_len);
  }
  if (cu[batch] != total)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "%s: %s[%lld] is %d but the tensors hold %lld token rows; the last offset "
                     "must equal them", fn, name, (long long)batch, (int)cu[batch],
                     (long long)total);
  return KILN_OK;
}

kiln_status kiln_attention_check_lengths(const kiln_attention_op *op,
                                         const kiln_attention_lengths *len) {
  const char *fn = kiln_attention_fn(op);
  if (len->cu_q) {
    kiln_status s = check_cu(fn, "cu_seqlens_q", len->cu_q, op->batch, op->total_q, op->sq,
                             "max_seqlen_q");
    if (s != KILN_OK)
      return s;
    /* Shared offsets (no cu_seqlens_k) must also fit max_seqlen_k. */
    s = check_cu(fn, len->cu_k == len->cu_q ? "cu_seqlens_q" : "cu_seqlens_k", len->cu_k,
                 op->batch, op->total_k, op->sk, "max_seqlen_k");
    if (s != KILN_OK)
      return s;
  }
  if (len->seqlens_k)
    for (int64_t b = 0; b < op->batch; b++) {
      int64_t keys = len->cu_k ? (int64_t)len->cu_k[b + 1] - len->cu_k[b] : op->sk;
      if (len->seqlens_k[b] < 0 || len->seqlens_k[b] > keys)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                         "%s: seqlens_k[%lld] is %d; it must be in [0, %lld], the sequence's "
                         "key count", fn, (long long)b, (int)len->seqlens_k[b], (long long)keys);
    }
  return KILN_OK;
}
