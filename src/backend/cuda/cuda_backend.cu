/* The CUDA backend's lifecycle: device count, context creation and
 * teardown, the device description and per-context settings. Memory is in
 * cuda_memory.cu, transfers and sync in cuda_transfer.cu, environment
 * switches in cuda_env.cu, the table in cuda_table.cu. */
#include "cuda_backend.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PyTorch's choice too: Hopper's best GEMM kernels want a large workspace;
 * older GPUs do with less. */
static size_t workspace_bytes(int cc_major) { return (size_t)(cc_major >= 9 ? 32 : 4) << 20; }

int kiln_cuda_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError(); /* no driver or no GPU: not an error here */
    return 0;
  }
  return n;
}

static kiln_status describe_device(kiln_cuda *st, const char *fn) {
  cudaDeviceProp prop;
  KILN_CUDA_TRY(kiln_cuda_check(cudaGetDeviceProperties(&prop, st->device), fn,
                                "cudaGetDeviceProperties"));
  int runtime = 0;
  KILN_CUDA_TRY(kiln_cuda_check(cudaRuntimeGetVersion(&runtime), fn, "cudaRuntimeGetVersion"));
  size_t lt = cublasLtGetVersion(); /* major * 10000 + minor * 100 + patch */
  snprintf(st->description, sizeof st->description,
           "cuda:%d: %s, sm_%d%d, %d SMs, CUDA runtime %d.%d, cuBLASLt %zu.%zu.%zu", st->device,
           prop.name, prop.major, prop.minor, prop.multiProcessorCount, runtime / 1000,
           runtime % 1000 / 10, lt / 10000, lt / 100 % 100, lt % 100);
  st->sm_count = prop.multiProcessorCount;
  /* Both H100 and H200 have 132 SMs; the H200's wider bus (6144 bits
   * against 5120, 4.8 TB/s against 3.35) wants more bytes in flight. */
  st->row_card = prop.memoryBusWidth >= 6144 || strstr(prop.name, "H200") ? 1 : 0;
  st->workspace_size = workspace_bytes(prop.major);
  return KILN_OK;
}

/* Everything a context owns, made in order; release() undoes any prefix. */
static kiln_status init(kiln_cuda *st, const char *fn) {
  KILN_CUDA_TRY(kiln_cuda_check(cudaSetDevice(st->device), fn, "cudaSetDevice"));
  KILN_CUDA_TRY(describe_device(st, fn));
  KILN_CUDA_TRY(kiln_cuda_check(kiln_cuda_probe_kernels(), fn, "loading kiln's CUDA kernels"));
  KILN_CUDA_TRY(kiln_cuda_check(cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking), fn,
                                "cudaStreamCreateWithFlags"));
  KILN_CUDA_TRY(kiln_cuda_make_pool(st, fn));
  KILN_CUDA_TRY(kiln_cuda_deferred_init(st, fn));
  KILN_CUDA_TRY(kiln_cublas_check(cublasLtCreate(&st->lt), fn, "cublasLtCreate"));
  KILN_CUDA_TRY(kiln_cuda_check(
      cudaMallocFromPoolAsync(&st->workspace, st->workspace_size, st->pool, st->stream), fn,
      "cudaMallocFromPoolAsync (cuBLASLt workspace)"));
  KILN_CUDA_TRY(kiln_cuda_gemv_init(st, fn));
  KILN_CUDA_TRY(kiln_cuda_attention_init(st, fn));
  return kiln_cuda_check(cudaStreamSynchronize(st->stream), fn, "cudaStreamSynchronize");
}

/* Teardown never fails the caller: errors here are dropped, and the
 * thread's last-error state is cleared so they do not leak into later calls. */
static void release(kiln_cuda *st) {
  if (st->stream)
    (void)cudaStreamSynchronize(st->stream);
  kiln_cuda_plan_cache_clear(&st->plans);
  kiln_cuda_cudnn_release(st);
  kiln_cuda_release_deferred(st);
  if (st->workspace)
    (void)cudaFreeAsync(st->workspace, st->stream);
  if (st->gemv_workspace)
    (void)cudaFreeAsync(st->gemv_workspace, st->stream);
  if (st->attn_counters)
    (void)cudaFreeAsync(st->attn_counters, st->stream);
  if (st->stream)
    (void)cudaStreamSynchronize(st->stream);
  kiln_cuda_deferred_release(st);
  if (st->lt)
    (void)cublasLtDestroy(st->lt);
  /* Destroying the pool returns its memory to the driver; any allocation
   * still live in it (a tensor not destroyed) is released once freed. */
  if (st->pool)
    (void)cudaMemPoolDestroy(st->pool);
  if (st->stream)
    (void)cudaStreamDestroy(st->stream);
  (void)cudaGetLastError();
  free(st->deferred);
  free(st);
}

kiln_status kiln_cuda_create(int index, void **state) {
  const char *fn = "kiln_context_create";
  *state = NULL;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess)
    return kiln_cuda_fail(err, fn, "cudaGetDeviceCount");
  if (index < 0 || index >= count)
    return kiln_fail(KILN_ERR_DEVICE, "%s: cuda index %d asked for, but this machine has %d GPU%s",
                     fn, index, count, count == 1 ? "" : "s");
  kiln_cuda *st = (kiln_cuda *)calloc(1, sizeof *st);
  if (!st)
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of host memory", fn);
  st->device = index;
  st->switch_device = count > 1;
  st->matmul_route = kiln_cuda_env_matmul_route();
  kiln_status s = init(st, fn);
  if (s != KILN_OK) {
    release(st);
    return s;
  }
  *state = st;
  return KILN_OK;
}

void kiln_cuda_destroy(void *state) {
  kiln_cuda *st = (kiln_cuda *)state;
  (void)kiln_cuda_enter(st, "kiln_context_destroy");
  release(st);
}

const char *kiln_cuda_describe(void *state) { return ((kiln_cuda *)state)->description; }

kiln_status kiln_cuda_set_tf32(void *state, bool allow) {
  ((kiln_cuda *)state)->tf32 = allow;
  return KILN_OK;
}
