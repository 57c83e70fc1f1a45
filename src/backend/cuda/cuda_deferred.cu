/* The CUDA side of deferred errors: the per-context record, and its
 * report at sync and read (backend.h has the contract). */
#include "cuda_deferred.cuh"

kiln_status kiln_cuda_deferred_init(kiln_cuda *st, const char *fn) {
  const size_t bytes = sizeof *st->defer_record;
  KILN_CUDA_TRY(kiln_cuda_check(cudaMalloc((void **)&st->defer_record, bytes), fn,
                                "cudaMalloc (the deferred-error record)"));
  KILN_CUDA_TRY(kiln_cuda_check(cudaMemset(st->defer_record, 0xff, bytes), fn, "cudaMemset"));
  void *host = NULL;
  KILN_CUDA_TRY(kiln_cuda_check(cudaHostAlloc(&host, sizeof(int), cudaHostAllocMapped), fn,
                                "cudaHostAlloc (the deferred-error flag)"));
  st->defer_flag = (volatile int *)host;
  *st->defer_flag = 0;
  void *dev = NULL;
  KILN_CUDA_TRY(kiln_cuda_check(cudaHostGetDevicePointer(&dev, host, 0), fn,
                                "cudaHostGetDevicePointer"));
  st->defer_flag_dev = (int *)dev;
  return KILN_OK;
}

void kiln_cuda_deferred_release(kiln_cuda *st) {
  if (st->defer_record)
    (void)cudaFree(st->defer_record);
  if (st->defer_flag)
    (void)cudaFreeHost((void *)st->defer_flag);
  st->defer_record = NULL;
  st->defer_flag = NULL;
  st->defer_flag_dev = NULL;
}

kiln_status kiln_cuda_deferred_report(kiln_cuda *st, const char *fn) {
  if (!st->defer_flag || !*st->defer_flag) /* the common case: one host read */
    return KILN_OK;
  kiln_cuda_deferred_record r;
  KILN_CUDA_TRY(kiln_cuda_check(
      cudaMemcpyAsync(&r, st->defer_record, sizeof r, cudaMemcpyDeviceToHost, st->stream), fn,
      "cudaMemcpyAsync (the deferred-error record)"));
  KILN_CUDA_TRY(kiln_cuda_check(cudaMemsetAsync(st->defer_record, 0xff, sizeof r, st->stream),
                                fn, "cudaMemsetAsync"));
  KILN_CUDA_TRY(kiln_cuda_check(cudaStreamSynchronize(st->stream), fn, "cudaStreamSynchronize"));
  *st->defer_flag = 0;
  if (r.code == -1) /* cannot happen: the flag is set after the record */
    return KILN_OK;
  kiln_defer d = {(kiln_defer_code)r.code, (int64_t)(r.key >> 32),
                     (int64_t)(int32_t)(uint32_t)r.key, (int64_t)r.limit};
  return kiln_defer_report(&d);
}
