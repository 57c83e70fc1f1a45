/* Deferred errors (backend.h): failures reported after the call that caused
 * them has returned, by the next kiln_sync or kiln_tensor_read, once.
 * Two sources share the contract: the core's CPU graph replay, which keeps
 * a failed op's status and message on the context (first below), and
 * kernels, which raise a code into their backend's record (then each
 * code's message). */
#include "internal.h"

#include <string.h>

void kiln_deferred_raise(kiln_context *ctx, kiln_status status) {
  if (ctx->deferred != KILN_OK) /* the first failure is the one to report */
    return;
  ctx->deferred = status;
  strncpy(ctx->deferred_text, kiln_last_error(), sizeof ctx->deferred_text - 1);
  ctx->deferred_text[sizeof ctx->deferred_text - 1] = '\0';
}

kiln_status kiln_deferred_take(kiln_context *ctx, const char *fn) {
  const kiln_status s = ctx->deferred;
  if (s == KILN_OK)
    return KILN_OK;
  ctx->deferred = KILN_OK;
  return kiln_fail(s, "%s: an earlier graph replay failed: %s", fn, ctx->deferred_text);
}

typedef struct defer_row {
  kiln_status status;
  /* printf format taking index, value and limit as long long, in order. */
  const char *format;
} defer_row;

#define ATTN_BAD KILN_ERR_INVALID_ARGUMENT
#define ATTN "kiln_attention: "
#define ATTN_END " (found by the kernel; out is not written)"
/* One cu_seqlens array's four rows (X: Q or K; x: "q" or "k"). */
#define CU_ROWS(X, x)                                                                          \
  [KILN_DEFER_ATTENTION_CU_##X##_FIRST] = {ATTN_BAD, ATTN "cu_seqlens_" x "[%lld] is %lld; it "  \
                                                     "must be 0" ATTN_END},                      \
  [KILN_DEFER_ATTENTION_CU_##X##_ORDER] = {ATTN_BAD, ATTN "cu_seqlens_" x "[%lld] is %lld but "  \
                                                     "the entry before it is %lld; offsets "     \
                                                     "must not decrease" ATTN_END},              \
  [KILN_DEFER_ATTENTION_CU_##X##_LONG] = {ATTN_BAD, ATTN "cu_seqlens_" x "[%lld] minus the "     \
                                                    "entry before it is %lld, more than "        \
                                                    "max_seqlen_" x " = %lld" ATTN_END},         \
  [KILN_DEFER_ATTENTION_CU_##X##_LAST] = {ATTN_BAD, ATTN "cu_seqlens_" x "[%lld] is %lld but "   \
                                                    "the tensors hold %lld token rows; the last " \
                                                    "offset must equal them" ATTN_END},

#define POOL_END " (found by the kernel; out is not written)"

static const defer_row rows[] = {
    [KILN_DEFER_NONE] = {KILN_OK, ""},
    [KILN_DEFER_EMBEDDING_ID] = {KILN_ERR_INVALID_ARGUMENT,
                                 "kiln_embedding: ids[%lld] is %lld, outside the table's %lld "
                                 "rows (found by the kernel; that lookup's row of out is "
                                 "zeros)"},
    /* attention: nothing is written when any length is bad */
    CU_ROWS(Q, "q")
    CU_ROWS(K, "k")
    [KILN_DEFER_ATTENTION_CU_Q_LONG_K] = {ATTN_BAD, ATTN "cu_seqlens_q[%lld] minus the entry "
                                                    "before it is %lld, more than max_seqlen_k = "
                                                    "%lld (it gives the keys' offsets too)"
                                                    ATTN_END},
    [KILN_DEFER_ATTENTION_SEQLENS_K] = {ATTN_BAD, ATTN "seqlens_k[%lld] is %lld; it must be in "
                                                  "[0, %lld], the sequence's key count" ATTN_END},
    /* mean_pool: nothing is written when any length is bad */
    [KILN_DEFER_POOL_CU_FIRST] = {KILN_ERR_INVALID_ARGUMENT,
                                  "kiln_mean_pool: cu_seqlens[%lld] is %lld; it must be 0" POOL_END},
    [KILN_DEFER_POOL_CU_ORDER] = {KILN_ERR_INVALID_ARGUMENT,
                                  "kiln_mean_pool: cu_seqlens[%lld] is %lld but the entry before "
                                  "it is %lld; offsets must not decrease" POOL_END},
    [KILN_DEFER_POOL_CU_LAST] = {KILN_ERR_INVALID_ARGUMENT,
                                 "kiln_mean_pool: cu_seqlens[%lld] is %lld but x holds %lld token "
                                 "rows; the last offset must equal them" POOL_END},
    [KILN_DEFER_POOL_SEQLENS] = {KILN_ERR_INVALID_ARGUMENT,
                                 "kiln_mean_pool: seqlens[%lld] is %lld; it must be in [0, %lld], "
                                 "the padded length" POOL_END},
};
_Static_assert(sizeof rows / sizeof rows[0] == KILN_DEFER_CODE_COUNT,
               "every kiln_defer_code needs its row");

void kiln_defer_raise(kiln_defer *d, kiln_defer_code code, int64_t index, int64_t value,
                      int64_t limit) {
  if (d->code != KILN_DEFER_NONE && (d->code != code || d->index <= index))
    return;
  *d = (kiln_defer){code, index, value, limit};
}

kiln_status kiln_defer_report(kiln_defer *d) {
  const kiln_defer e = *d;
  if (e.code == KILN_DEFER_NONE)
    return KILN_OK;
  *d = (kiln_defer){KILN_DEFER_NONE, 0, 0, 0};
  if ((unsigned)e.code >= KILN_DEFER_CODE_COUNT)
    return kiln_fail(KILN_ERR_BACKEND, "kiln: a kernel raised unknown deferred error %d",
                     (int)e.code);
  const defer_row *r = &rows[e.code];
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
  return kiln_fail(r->status, r->format, (long long)e.index, (long long)e.value,
                   (long long)e.limit);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
}
