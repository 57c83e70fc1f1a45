/* Host <-> device copies, sync and the stream handle of the CUDA backend.
 * Every wait here is also where asynchronous failures surface: errors of
 * earlier kernels and deferred errors (cuda_deferred.cu). */
#include "cuda_backend.h"

kiln_status kiln_cuda_sync(void *state) {
  kiln_cuda *st = (kiln_cuda *)state;
  KILN_CUDA_TRY(kiln_cuda_enter(st, "kiln_sync"));
  /* Errors of earlier asynchronous ops surface here, deferred ones too. */
  KILN_CUDA_TRY(
      kiln_cuda_check(cudaStreamSynchronize(st->stream), "kiln_sync", "cudaStreamSynchronize"));
  return kiln_cuda_deferred_report(st, "kiln_sync");
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
