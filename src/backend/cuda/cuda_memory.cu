/* Device memory of the CUDA backend: the stream-ordered pool every tensor
 * and scratch comes from, and frees deferred while a graph is captured. */
#include "cuda_backend.h"

#include <stdint.h>
#include <stdlib.h>

kiln_status kiln_cuda_make_pool(kiln_cuda *st, const char *fn) {
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
