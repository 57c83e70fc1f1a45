/* The CUDA backend's table: its infrastructure entries and every op it
 * runs, from the op list (KILN_OPS, backend.h). */
#include "cuda_backend.h"

/* Each kernel file defines its kind's entry (KILN_CUDA_OP); a kind
 * without a CUDA kernel would have an empty one here,
 * KILN_OP_NONE(kiln_cuda_op_<member>);, so src/ops/ composes it or answers
 * KILN_ERR_UNSUPPORTED. */

#define CUDA_DECLARE(kind, member, type) extern "C" const kiln_op_impl kiln_cuda_op_##member;
KILN_OPS(CUDA_DECLARE)
/* Positional: KILN_OPS lists the kinds in enum order (C++ has no
 * designated array initializers). */
#define CUDA_ROW(kind, member, type) &kiln_cuda_op_##member,
static const kiln_op_impl *const cuda_ops[KILN_OP_COUNT] = {KILN_OPS(CUDA_ROW)};

static kiln_backend make_backend(void) {
  kiln_backend b = {};
  b.name = "cuda";
  b.device = KILN_DEVICE_CUDA;
  b.device_count = kiln_cuda_device_count;
  b.create = kiln_cuda_create;
  b.destroy = kiln_cuda_destroy;
  b.describe = kiln_cuda_describe;
  b.sync = kiln_cuda_sync;
  b.set_tf32 = kiln_cuda_set_tf32;
  b.alloc = kiln_cuda_alloc;
  b.free = kiln_cuda_free;
  b.upload = kiln_cuda_upload;
  b.download = kiln_cuda_download;
  b.graph_begin = kiln_cuda_graph_begin;
  b.graph_end = kiln_cuda_graph_end;
  b.graph_run = kiln_cuda_graph_run;
  b.graph_destroy = kiln_cuda_graph_destroy;
  b.stream = kiln_cuda_stream;
  b.stream_wait = kiln_cuda_stream_wait;
  b.ops = cuda_ops;
  return b;
}

static const kiln_backend cuda_backend = make_backend();

extern "C" const kiln_backend *kiln_backend_cuda(void) { return &cuda_backend; }
