/* The CUDA backend's table: its infrastructure entries and every op it
 * runs. Adding an op to the backend is one row of CUDA_OPS. */
#include "cuda_backend.h"

/* kind, union member, typed kernel, supports (NULL: every op of the kind).
 * Kinds not listed have no CUDA kernel: src/ops/ composes them or answers
 * KILN_ERR_UNSUPPORTED. */
#define CUDA_OPS(X)                                                                           \
  X(KILN_OP_MATMUL, matmul, kiln_cuda_matmul, NULL)                                           \
  X(KILN_OP_SOFTMAX, softmax, kiln_cuda_softmax, NULL)                                        \
  X(KILN_OP_RMS_NORM, rms_norm, kiln_cuda_rms_norm, NULL)                                     \
  X(KILN_OP_LORA, lora, kiln_cuda_lora, kiln_cuda_lora_supports)                              \
  X(KILN_OP_ADD_RMS_NORM, add_rms_norm, kiln_cuda_add_rms_norm, NULL)                         \
  X(KILN_OP_LAYER_NORM, layer_norm, kiln_cuda_layer_norm, NULL)                               \
  X(KILN_OP_UNARY, unary, kiln_cuda_unary, NULL)                                              \
  X(KILN_OP_BINARY, binary, kiln_cuda_binary, NULL)                                           \
  X(KILN_OP_ROPE, rope, kiln_cuda_rope, NULL)                                                 \
  X(KILN_OP_EMBEDDING, embedding, kiln_cuda_embedding, NULL)                                  \
  X(KILN_OP_ATTENTION, attention, kiln_cuda_attention, NULL)                                  \
  X(KILN_OP_CUSTOM, custom, kiln_cuda_custom, NULL)

CUDA_OPS(KILN_OP_ADAPTER)

/* C++ has no designated array initializers: the rows are assigned, once,
 * by the static initializer of cuda_backend below. */
static kiln_op_impl cuda_ops[KILN_OP_COUNT];

#define CUDA_OP_ASSIGN(kind, member, kernel, supports_fn)                                     \
  cuda_ops[kind] = kiln_op_impl{kiln_run_##member, supports_fn};

static kiln_backend make_backend(void) {
  CUDA_OPS(CUDA_OP_ASSIGN)
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
