/* The CUDA backend's context creation and teardown, device memory,
 * transfers, sync and the device description (its table: cuda_table.cu). */
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

static kiln_status make_pool(kiln_cuda *st, const char *fn) {
  cudaMemPoolProps props = {};
  props.allocType = cudaMemAllocationTypePinned;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = st->device;
  KILN_CUDA_TRY(kiln_cuda_check(cudaMemPoolCreate(&st->pool, &props), fn, "cudaMemPoolCreate"));
  /* Keep freed memory in the pool instead of returning it to the driver at
   * every sync, so a steady workload never allocates from the driver. */
  uint64_t keep = UINT64_MAX;
  return kiln_cuda_check(cudaMemPoolSetAttribute(st->pool, cudaMemPoolAttrReleaseThreshold, &keep),
                         fn, "cudaMemPoolSetAttribute");
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
  KILN_CUDA_TRY(make_pool(st, fn));
  KILN_CUDA_TRY(kiln_cuda_deferred_init(st, fn));
  KILN_CUDA_TRY(kiln_cublas_check(cublasLtCreate(&st->lt), fn, "cublasLtCreate"));
  KILN_CUDA_TRY(kiln_cuda_check(
      cudaMallocFromPoolAsync(&st->workspace, st->workspace_size, st->pool, st->stream), fn,
      "cudaMallocFromPoolAsync (cuBLASLt workspace)"));
  return kiln_cuda_check(cudaStreamSynchronize(st->stream), fn, "cudaStreamSynchronize");
}

/* Teardown never fails the caller: errors here are dropped, and the
 * thread's last-error state is cleared so they do not leak into later calls. */
static void release(kiln_cuda *st) {
  if (st->stream)
    (void)cudaStreamSynchronize(st->stream);
  kiln_cuda_plan_cache_clear(&st->plans);
  kiln_cuda_release_deferred(st);
  if (st->workspace)
    (void)cudaFreeAsync(st->workspace, st->stream);
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

/* KILN_CUDA_MATMUL=own|cublaslt, read once per context (see kiln_cuda). */
static int matmul_route_from_env(void) {
  const char *v = getenv("KILN_CUDA_MATMUL");
  if (v && strcmp(v, "own") == 0)
    return 1;
  if (v && strcmp(v, "cublaslt") == 0)
    return 2;
  return 0;
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
  st->matmul_route = matmul_route_from_env();
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

kiln_status kiln_cuda_sync(void *state) {
  kiln_cuda *st = (kiln_cuda *)state;
  KILN_CUDA_TRY(kiln_cuda_enter(st, "kiln_sync"));
  /* Errors of earlier asynchronous ops surface here, deferred ones too. */
  KILN_CUDA_TRY(
      kiln_cuda_check(cudaStreamSynchronize(st->stream), "kiln_sync", "cudaStreamSynchronize"));
  return kiln_cuda_deferred_report(st, "kiln_sync");
}

kiln_status kiln_cuda_set_tf32(void *state, bool allow) {
  ((kiln_cuda *)state)->tf32 = allow;
  return KILN_OK;
}

kiln_status kiln_cuda_alloc(void *state, size_t nbytes, void **ptr) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_tensor_create";
  *ptr = NULL;
  if (nbytes == 0) /* an empty tensor: ops never touch its data */
    return KILN_OK;
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  cudaError_t err = cudaMallocFromPoolAsync(ptr, nbytes, st->pool, st->stream);
  if (err == cudaSuccess)
    return KILN_OK;
  *ptr = NULL;
  (void)cudaGetLastError();
  if (err == cudaErrorMemoryAllocation)
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of GPU memory allocating %zu bytes on cuda:%d "
                     "(cudaMallocFromPoolAsync: %s)", fn, nbytes, st->device,
                     cudaGetErrorString(err));
  return kiln_cuda_fail(err, fn, "cudaMallocFromPoolAsync");
}

static void defer_free(kiln_cuda *st, void *ptr) {
  if (st->deferred_count == st->deferred_capacity) {
    size_t capacity = st->deferred_capacity ? 2 * st->deferred_capacity : 16;
    void **grown = (void **)realloc(st->deferred, capacity * sizeof *grown);
    /* Out of host memory mid-capture: leaking this block is the lesser
     * harm; freeing it now would enqueue the free into the capture. */
    if (!grown)
      return;
    st->deferred = grown;
    st->deferred_capacity = capacity;
  }
  st->deferred[st->deferred_count++] = ptr;
}

void kiln_cuda_release_deferred(kiln_cuda *st) {
  for (size_t i = 0; i < st->deferred_count; i++)
    (void)cudaFreeAsync(st->deferred[i], st->stream);
  st->deferred_count = 0;
  (void)cudaGetLastError();
}

void kiln_cuda_free(void *state, void *ptr) {
  kiln_cuda *st = (kiln_cuda *)state;
  if (!ptr)
    return;
  /* A cudaFreeAsync now would become a node of the graph being captured. */
  if (st->capturing) {
    defer_free(st, ptr);
    return;
  }
  (void)kiln_cuda_enter(st, "kiln_tensor_destroy");
  /* Stream-ordered: the memory is reused only after the ops already
   * enqueued on the stream, which may still read it, have run. */
  if (cudaFreeAsync(ptr, st->stream) != cudaSuccess)
    (void)cudaGetLastError();
}

kiln_status kiln_cuda_upload(void *state, void *dst, const void *src, size_t nbytes) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_tensor_write";
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  KILN_CUDA_TRY(kiln_cuda_check(
      cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, st->stream), fn,
      "cudaMemcpyAsync"));
  /* The caller may reuse src as soon as we return (and src may be pinned,
   * when the copy is truly asynchronous). */
  return kiln_cuda_check(cudaStreamSynchronize(st->stream), fn, "cudaStreamSynchronize");
}

kiln_status kiln_cuda_download(void *state, void *dst, const void *src, size_t nbytes) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_tensor_read";
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  /* Ordered after every op enqueued before it; one wait covers both. */
  KILN_CUDA_TRY(kiln_cuda_check(
      cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, st->stream), fn,
      "cudaMemcpyAsync"));
  KILN_CUDA_TRY(kiln_cuda_check(cudaStreamSynchronize(st->stream), fn, "cudaStreamSynchronize"));
  return kiln_cuda_deferred_report(st, fn);
}

void *kiln_cuda_stream(void *state) { return ((kiln_cuda *)state)->stream; }

kiln_status kiln_cuda_custom(void *state, const kiln_custom_op_args *op) {
  kiln_cuda *st = (kiln_cuda *)state;
  KILN_CUDA_TRY(kiln_cuda_enter(st, "kiln_custom_op"));
  /* The function enqueues on our stream, so its work is ordered with ours
   * and, while capturing, lands in the graph. */
  const kiln_status s = op->fn(st->stream, op->tensors, op->ntensors, op->user);
  if (s == KILN_OK)
    return s;
  return kiln_fail(s, "kiln_custom_op: the custom function returned %s", kiln_status_string(s));
}
