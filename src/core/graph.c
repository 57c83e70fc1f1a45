/* The one path from a validated op to a backend, and graph capture: native
 * where the backend has it (CUDA graphs), otherwise a recorded op list that
 * is replayed through the same path. */
#include "internal.h"

#include <stdlib.h>

struct kiln_op_list {
  kiln_op *ops;
  size_t count, capacity;
};

struct kiln_graph {
  kiln_context *ctx;
  kiln_backend_graph *native;  /* when the backend captures natively */
  struct kiln_op_list *record; /* otherwise */
};

static kiln_status run_op_now(kiln_context *ctx, const kiln_op *op);

/* Every op reaches its backend here, between the backend's op_begin and
 * op_end where it has them (the CPU's thread counts). */
static kiln_status run_op(kiln_context *ctx, const kiln_op *op) {
  const kiln_backend *b = ctx->backend;
  const int saved = b->op_begin ? b->op_begin(ctx->state) : 0;
  const kiln_status s = run_op_now(ctx, op);
  if (b->op_end)
    b->op_end(ctx->state, saved);
  return s;
}

/* src/ops/ has asked the backend's supports before dispatching; a kind
 * without run can only arrive here through a bug, and fails cleanly. */
static kiln_status run_op_now(kiln_context *ctx, const kiln_op *op) {
  if ((unsigned)op->kind < KILN_OP_COUNT) {
    const kiln_op_impl *impl = ctx->backend->ops[op->kind];
    if (impl->run)
      return impl->run(ctx->state, op);
  }
  return kiln_fail(KILN_ERR_BACKEND, "kiln: the %s backend has no kernel for op kind %d",
                   ctx->backend->name, (int)op->kind);
}

static kiln_status record_op(struct kiln_op_list *list, const kiln_op *op) {
  if (list->count == list->capacity) {
    size_t capacity = list->capacity ? 2 * list->capacity : 16;
    kiln_op *grown = realloc(list->ops, capacity * sizeof *grown);
    if (!grown)
      return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "kiln_graph: out of host memory recording op %zu",
                       list->count);
    list->ops = grown;
    list->capacity = capacity;
  }
  list->ops[list->count++] = *op;
  return KILN_OK;
}

kiln_status kiln_dispatch(kiln_context *ctx, const kiln_op *op) {
  return ctx->capture ? record_op(ctx->capture, op) : run_op(ctx, op);
}

static void free_list(struct kiln_op_list *list) {
  if (list)
    free(list->ops);
  free(list);
}

void kiln_capture_abandon(kiln_context *ctx) {
  if (!ctx->capturing)
    return;
  if (ctx->backend->graph_begin) {
    kiln_backend_graph *g = NULL;
    if (ctx->backend->graph_end(ctx->state, &g) == KILN_OK)
      ctx->backend->graph_destroy(ctx->state, g);
  }
  free_list(ctx->capture);
  ctx->capture = NULL;
  ctx->capturing = false;
}

kiln_status kiln_graph_begin(kiln_context *ctx) {
  if (!ctx)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_graph_begin: ctx is NULL");
  if (ctx->capturing)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "kiln_graph_begin: ctx is already capturing a graph");
  if (ctx->backend->graph_begin) {
    kiln_status s = ctx->backend->graph_begin(ctx->state);
    if (s != KILN_OK)
      return s;
  } else {
    ctx->capture = calloc(1, sizeof *ctx->capture);
    if (!ctx->capture)
      return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "kiln_graph_begin: out of host memory");
  }
  ctx->capturing = true;
  return KILN_OK;
}

kiln_status kiln_graph_end(kiln_context *ctx, kiln_graph **graph) {
  const char *fn = "kiln_graph_end";
  if (!graph)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: graph is NULL", fn);
  *graph = NULL;
  if (!ctx)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
  if (!ctx->capturing)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "%s: ctx is not capturing; call kiln_graph_begin first", fn);
  kiln_graph *g = calloc(1, sizeof *g);
  if (!g) {
    kiln_capture_abandon(ctx);
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of host memory", fn);
  }
  g->ctx = ctx;
  if (ctx->backend->graph_begin) {
    ctx->capturing = false; /* the capture ends here whether or not it succeeds */
    kiln_status s = ctx->backend->graph_end(ctx->state, &g->native);
    if (s != KILN_OK) {
      free(g);
      return s;
    }
  } else {
    g->record = ctx->capture;
    ctx->capture = NULL;
    ctx->capturing = false;
  }
  *graph = g;
  return KILN_OK;
}

kiln_status kiln_graph_run(kiln_context *ctx, const kiln_graph *graph) {
  const char *fn = "kiln_graph_run";
  if (!ctx || !graph)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, ctx ? "graph" : "ctx");
  if (graph->ctx != ctx)
    return kiln_fail(KILN_ERR_DEVICE, "%s: graph was captured on another context", fn);
  if (ctx->capturing)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "%s: ctx is capturing a graph; graphs cannot be nested", fn);
  if (graph->native)
    return ctx->backend->graph_run(ctx->state, graph->native);
  /* The recorded ops were validated when captured; what can still fail is
   * data (an embedding id) or a custom function. As a native graph does,
   * the replay runs every op and the first failure is reported by the next
   * kiln_sync or kiln_tensor_read (kiln.h): CPU and GPU callers see the
   * same thing, and the outputs after a failure are the same too. */
  for (size_t i = 0; i < graph->record->count; i++) {
    kiln_op op = graph->record->ops[i];
    if (op.kind == KILN_OP_EMBEDDING)
      op.u.embedding.zero_bad_ids = true;
    const kiln_status s = run_op(ctx, &op);
    if (s != KILN_OK)
      kiln_deferred_raise(ctx, s);
  }
  return KILN_OK;
}

void kiln_graph_destroy(kiln_graph *graph) {
  if (!graph)
    return;
  if (graph->native)
    graph->ctx->backend->graph_destroy(graph->ctx->state, graph->native);
  free_list(graph->record);
  free(graph);
}
