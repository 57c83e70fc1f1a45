/* CUDA runtime and cuBLASLt failures as kiln statuses. */
#include "cuda_errors.h"

static kiln_status status_of(cudaError_t err) {
  switch (err) {
  case cudaErrorMemoryAllocation: return KILN_ERR_OUT_OF_MEMORY;
  case cudaErrorNoDevice:
  case cudaErrorInvalidDevice:
  case cudaErrorInsufficientDriver:
  case cudaErrorDevicesUnavailable:
  case cudaErrorNoKernelImageForDevice: return KILN_ERR_DEVICE;
  default: return KILN_ERR_BACKEND;
  }
}

kiln_status kiln_cuda_fail(cudaError_t err, const char *fn, const char *call) {
  /* A failed runtime call also sets the thread's "last error". Clear it, or
   * the next unrelated check (ours or the caller's) would report it again.
   * Sticky errors (a kernel fault) stay whatever we do. */
  (void)cudaGetLastError();
  return kiln_fail(status_of(err), "%s: %s failed: %s (%s)", fn, call, cudaGetErrorString(err),
                   cudaGetErrorName(err));
}

kiln_status kiln_cublas_fail(cublasStatus_t err, const char *fn, const char *call) {
  kiln_status s = err == CUBLAS_STATUS_ALLOC_FAILED ? KILN_ERR_OUT_OF_MEMORY : KILN_ERR_BACKEND;
  return kiln_fail(s, "%s: %s failed: %s (%s)", fn, call, cublasLtGetStatusString(err),
                   cublasLtGetStatusName(err));
}
