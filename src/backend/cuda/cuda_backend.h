/*
 * The CUDA backend's per-context state, and the entry points its files
 * share. Everything here is made once, in create, and reused by every op:
 * the stream, the memory pool, the cuBLASLt handle, its workspace and the
 * plan cache.
 */
#ifndef KILN_CUDA_BACKEND_H
#define KILN_CUDA_BACKEND_H

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <stddef.h>

#include "cuda_errors.h"
#include "cuda_plan_cache.h"

typedef struct kiln_cuda {
  int device;
  bool switch_device; /* several GPUs visible: make ours current on entry */
  int sm_count;
  cudaStream_t stream; /* non-blocking: never serialised with the legacy stream */
  cudaMemPool_t pool;  /* stream-ordered allocator; keeps freed memory for reuse */
  cublasLtHandle_t lt;
  void *workspace; /* cuBLASLt's scratch, workspace_size bytes */
  size_t workspace_size;
  void *gemv_workspace; /* the GEMV's slab partials and counters (cuda_gemv.cu) */
  unsigned *attn_counters; /* decode attention's split counters (cuda_attention_decode_mma.cu) */
  bool tf32;
  /* KILN_CUDA_MATMUL at creation: 0 auto, 1 "own" (our kernels wherever
   * one takes the shape), 2 "cublaslt" (cuBLASLt wherever k > 0). For
   * measuring the crossover and testing every kernel; see cuda_matmul.cu. */
  int matmul_route;
  /* Which row-op tuning fits this card:
   * 1 on a 6144-bit memory bus (H200 and its kind), 0 otherwise (H100);
   * ROW_TUNING in cuda_rows.cuh. */
  int row_card;
  bool capturing; /* a graph capture is open on stream */
  /* Frees asked for while capturing, released at graph end. */
  void **deferred;
  size_t deferred_count, deferred_capacity;
  kiln_cuda_plan_cache plans;
  /* cuDNN's handle and attention plans (cuda_attention_cudnn.cu), made at
   * the first attention routed there; NULL until then. */
  struct kiln_cuda_cudnn *cudnn;
  /* Deferred errors (backend.h, cuda_deferred.cuh): the record kernels
   * raise into, in device memory, and a flag in mapped host memory that
   * they set beside it, so a sync learns whether to look without a copy. */
  struct kiln_cuda_deferred_record *defer_record;
  volatile int *defer_flag;
  int *defer_flag_dev; /* the same flag, as kernels address it */
  char description[384]; /* room for a 256-byte device name */
} kiln_cuda;

/* Makes the context's GPU current when the machine has several; free on a
 * machine with one. */
static inline kiln_status kiln_cuda_enter(const kiln_cuda *st, const char *fn) {
  return st->switch_device ? kiln_cuda_check(cudaSetDevice(st->device), fn, "cudaSetDevice")
                           : KILN_OK;
}

/* The memory pool of a context (cuda_memory.cu, at creation), and the
 * release of the frees deferred during a capture. */
kiln_status kiln_cuda_make_pool(kiln_cuda *st, const char *fn);
void kiln_cuda_release_deferred(kiln_cuda *st);

/* Environment switches (cuda_env.cu): KILN_CUDA_MATMUL as matmul_route,
 * read at each context's creation; KILN_CUDA_PDL, once per process. */
int kiln_cuda_env_matmul_route(void);
bool kiln_cuda_env_matmul_debug(void); /* KILN_MATMUL_DEBUG (cuda_matmul.cu) */
bool kiln_cuda_env_matmul_tune_all(void); /* KILN_MATMUL_TUNE=all (the same) */
bool kiln_cuda_env_pdl(void);
bool kiln_cuda_env_gemv(void); /* KILN_CUDA_GEMV=0: no n-major GEMV (cuda_gemv.cu) */
int kiln_cuda_env_gemv_blocks(void); /* KILN_CUDA_GEMV_BLOCKS (the same) */
int kiln_cuda_env_mma_blocks(void); /* KILN_CUDA_MMA_BLOCKS (cuda_attention_mma.cu) */
int kiln_cuda_env_f32_mma(void); /* KILN_CUDA_F32_MMA: 1, 0, or -1 unset (cuda_attention.cu) */
int kiln_cuda_env_f32_mma_split(void); /* KILN_CUDA_F32_MMA_SPLIT: 1 block, 2 warp, 3 f16 */
int kiln_cuda_env_decode_wave(void); /* KILN_CUDA_DECODE_WAVE (cuda_attention_decode_mma.cu) */
int kiln_cuda_env_decode_stages(void); /* KILN_CUDA_DECODE_STAGES (the same) */
bool kiln_cuda_env_cudnn_debug(void); /* KILN_CUDNN_DEBUG (cuda_attention_cudnn.cu) */
void kiln_cuda_env_cudnn_plan(int *stats_first, int *only_config); /* KILN_CUDNN_PLAN */

/* KILN_CUDA_ROWS (cuda_env.cu): a row-op variant forced over the tuning
 * table, for measuring (cuda_rows.cuh, choose_row_plan). Widths are the
 * table's slots of 1024, 4096 and 32768 columns; 0 or -1: the table's. */
typedef struct kiln_cuda_rows_variant {
  bool set;
  int threads[3], per_thread[3];
  int kept, pf, cs, wide, chunks;
} kiln_cuda_rows_variant;
const kiln_cuda_rows_variant *kiln_cuda_env_rows(void);

/* The backend table's infrastructure entries (cuda_backend.cu, lifecycle;
 * cuda_memory.cu; cuda_transfer.cu); see kiln_backend in backend.h for
 * each one's contract. */
int kiln_cuda_device_count(void);
kiln_status kiln_cuda_create(int index, void **state);
void kiln_cuda_destroy(void *state);
const char *kiln_cuda_describe(void *state);
kiln_status kiln_cuda_sync(void *state);
kiln_status kiln_cuda_set_tf32(void *state, bool allow);
kiln_status kiln_cuda_alloc(void *state, size_t nbytes, void **ptr);
void kiln_cuda_free(void *state, void *ptr);
kiln_status kiln_cuda_upload(void *state, void *dst, const void *src, size_t nbytes);
kiln_status kiln_cuda_download(void *state, void *dst, const void *src, size_t nbytes);
void *kiln_cuda_stream(void *state);

/* Defines the CUDA backend's ops-table entry for one kind,
 * kiln_cuda_op_<member> (backend.h, KILN_OP_IMPL), after the kernel's host
 * entry in its own file:
 *   static kiln_status kiln_cuda_softmax(void *state, const kiln_softmax_op *op) {...}
 *   KILN_CUDA_OP(softmax, kiln_cuda_softmax, NULL); */
#define KILN_CUDA_OP(member, kernel, supports_fn)                                            \
  KILN_OP_IMPL(kiln_cuda_op_##member, member, kernel, supports_fn)

/* Reports a deferred error raised since the last report (kiln_defer_report)
 * and clears it; fn names the caller should a CUDA call fail on the way.
 * Call when the stream is idle (cuda_deferred.cu). */
kiln_status kiln_cuda_deferred_report(kiln_cuda *st, const char *fn);
/* Makes and frees the record (context creation and teardown). */
kiln_status kiln_cuda_deferred_init(kiln_cuda *st, const char *fn);
void kiln_cuda_deferred_release(kiln_cuda *st);
/* Makes the GEMV's workspace, counters zeroed (cuda_gemv.cu); freed with
 * the context. */
kiln_status kiln_cuda_gemv_init(kiln_cuda *st, const char *fn);
/* Makes decode attention's split counters, KILN_CUDA_ATTENTION_COUNTERS
 * of them, zeroed (cuda_attention_decode_mma.cu); freed with the context. */
#define KILN_CUDA_ATTENTION_COUNTERS 4096
kiln_status kiln_cuda_attention_init(kiln_cuda *st, const char *fn);

/* Frees st->cudnn, if made (cuda_attention_cudnn.cu). */
void kiln_cuda_cudnn_release(kiln_cuda *st);

/* kiln_stream_wait: stream waits for the work on st->stream (cuda_stream_wait.cu). */
kiln_status kiln_cuda_stream_wait(void *state, void *stream);

/* Graphs (cuda_graph.cu). */
kiln_status kiln_cuda_graph_begin(void *state);
kiln_status kiln_cuda_graph_end(void *state, kiln_backend_graph **graph);
kiln_status kiln_cuda_graph_run(void *state, kiln_backend_graph *graph);
void kiln_cuda_graph_destroy(void *state, kiln_backend_graph *graph);

/* Fails when no kernel of ours can run on the current device, for example a
 * GPU older than the architectures this library was built for. */
cudaError_t kiln_cuda_probe_kernels(void);

#endif /* KILN_CUDA_BACKEND_H */
