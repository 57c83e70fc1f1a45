/* Failures that happen after the call that caused them has returned: inside
 * a graph replay (an embedding id out of range, a custom op's error). The
 * first one is kept on the context, with its message, and the next
 * kiln_sync or kiln_tensor_read on the context reports it, once, as the
 * GPU reports the errors of its asynchronous kernels. */
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
