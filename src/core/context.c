/* Contexts: pick a backend, let it build its long-lived state once. */
#include "internal.h"

#include <stdlib.h>

int kiln_device_count(kiln_device device) {
  const kiln_backend *b = kiln_backend_for(device);
  return b ? b->device_count() : 0;
}

static kiln_status resolve_device(kiln_device device, int index, kiln_device *resolved) {
  if (device == KILN_DEVICE_AUTO)
    device = kiln_device_auto();
  const char *name = kiln_device_kind_name(device);
  if (!name)
    return kiln_fail(KILN_ERR_DEVICE, "kiln_context_create: device %d is not a kiln_device",
                     (int)device);
  if (!kiln_backend_for(device))
    return kiln_fail(KILN_ERR_DEVICE,
                     "kiln_context_create: device %s was not built into this kiln", name);
  int count = kiln_device_count(device);
  if (index < 0 || index >= count)
    return kiln_fail(KILN_ERR_DEVICE,
                     "kiln_context_create: index %d asked for, but this machine has %d %s "
                     "device%s",
                     index, count, name, count == 1 ? "" : "s");
  *resolved = device;
  return KILN_OK;
}

kiln_status kiln_context_create(kiln_device device, int index, kiln_context **out) {
  if (!out)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_context_create: out is NULL");
  *out = NULL;
  kiln_device resolved = KILN_DEVICE_CPU;
  kiln_status s = resolve_device(device, index, &resolved);
  if (s != KILN_OK)
    return s;
  kiln_context *ctx = calloc(1, sizeof *ctx);
  if (!ctx)
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "kiln_context_create: out of host memory");
  ctx->backend = kiln_backend_for(resolved);
  ctx->device = resolved;
  ctx->index = index;
  ctx->refs = 1;
  s = ctx->backend->create(index, &ctx->state);
  if (s != KILN_OK) {
    free(ctx);
    return s;
  }
  *out = ctx;
  return KILN_OK;
}

void kiln_context_release(kiln_context *ctx) {
  if (__atomic_sub_fetch(&ctx->refs, 1, __ATOMIC_ACQ_REL) > 0)
    return;
  ctx->backend->destroy(ctx->state);
  free(ctx);
}

/* The caller's part goes now; the backend state stays while a DLPack
 * export of one of its tensors is held, since freeing that memory needs it. */
void kiln_context_destroy(kiln_context *ctx) {
  if (!ctx)
    return;
  kiln_capture_abandon(ctx);
  for (int i = 0; i < ctx->scratch_count; i++)
    kiln_tensor_destroy(ctx->scratch[i]);
  ctx->scratch_count = 0;
  kiln_context_release(ctx);
}

kiln_device kiln_context_device(const kiln_context *ctx) {
  return ctx ? ctx->device : KILN_DEVICE_AUTO;
}

const char *kiln_context_describe(const kiln_context *ctx) {
  return ctx ? ctx->backend->describe(ctx->state) : "";
}

kiln_status kiln_sync(kiln_context *ctx) {
  if (!ctx)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_sync: ctx is NULL");
  if (ctx->capturing)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "kiln_sync: ctx is capturing a graph; end the capture first");
  const kiln_status s = ctx->backend->sync(ctx->state);
  return s != KILN_OK ? s : kiln_deferred_take(ctx, "kiln_sync");
}

kiln_status kiln_context_allow_tf32(kiln_context *ctx, int allow) {
  if (!ctx)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_context_allow_tf32: ctx is NULL");
  if (allow != 0 && allow != 1)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "kiln_context_allow_tf32: allow is %d; it must be 0 or 1", allow);
  return ctx->backend->set_tf32(ctx->state, allow == 1);
}

kiln_status kiln_context_use_fused(kiln_context *ctx, int enable) {
  if (!ctx)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_context_use_fused: ctx is NULL");
  if (enable != 0 && enable != 1)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "kiln_context_use_fused: enable is %d; it must be 0 or 1", enable);
  ctx->prefer_composite = enable == 0;
  return KILN_OK;
}

kiln_status kiln_context_set_threads(kiln_context *ctx, int threads) {
  if (!ctx)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_context_set_threads: ctx is NULL");
  if (threads < 0 || threads > 4096)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "kiln_context_set_threads: threads is %d; it must be 0 (automatic) to 4096",
                     threads);
  return ctx->backend->set_threads ? ctx->backend->set_threads(ctx->state, threads) : KILN_OK;
}

void *kiln_context_stream(const kiln_context *ctx) {
  return ctx && ctx->backend->stream ? ctx->backend->stream(ctx->state) : NULL;
}

/* Smallest first allocation: small enough not to matter, large enough that
 * tiny shapes never make the list grow step by step. */
#define SCRATCH_MIN_BYTES 4096

kiln_status kiln_context_scratch(kiln_context *ctx, size_t nbytes, const char *fn,
                                 kiln_tensor **out) {
  kiln_tensor *last = ctx->scratch_count ? ctx->scratch[ctx->scratch_count - 1] : NULL;
  if (last && last->nbytes >= nbytes) {
    *out = last;
    return KILN_OK;
  }
  if (ctx->capturing && ctx->backend->graph_begin)
    return kiln_fail(KILN_ERR_UNSUPPORTED,
                     "%s: the composite needs %zu bytes of scratch, more than this context has, "
                     "and memory cannot be allocated inside a graph capture; run the op once "
                     "before kiln_graph_begin", fn, nbytes);
  if (ctx->scratch_count == KILN_SCRATCH_SLOTS)
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: scratch cannot grow to %zu bytes", fn, nbytes);
  size_t floats = (nbytes + sizeof(float) - 1) / sizeof(float);
  size_t doubled = last ? 2 * (size_t)last->numel : SCRATCH_MIN_BYTES / sizeof(float);
  floats = floats > doubled ? floats : doubled;
  if (floats > (size_t)INT64_MAX / sizeof(float))
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: scratch cannot grow to %zu bytes", fn, nbytes);
  const int64_t shape[1] = {(int64_t)floats};
  kiln_status s = kiln_tensor_new(ctx, KILN_F32, 1, shape, shape[0], NULL, true,
                                  &ctx->scratch[ctx->scratch_count]);
  if (s != KILN_OK)
    return s;
  *out = ctx->scratch[ctx->scratch_count++];
  return KILN_OK;
}
