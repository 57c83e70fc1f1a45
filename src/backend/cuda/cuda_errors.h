/*
 * CUDA runtime and cuBLASLt failures as kiln statuses. The message carries
 * the vendor library's own text, so a user sees what the driver said:
 *   "kiln_matmul: cublasLtMatmul failed: an unsupported value or parameter
 *    was passed to the function (CUBLAS_STATUS_INVALID_VALUE)"
 */
#ifndef KILN_CUDA_ERRORS_H
#define KILN_CUDA_ERRORS_H

#include <cublasLt.h>
#include <cuda_runtime.h>

extern "C" {
#include "internal.h"
}

/* Record the failure of `call` inside kiln function `fn` and return its
 * status: out of memory -> KILN_ERR_OUT_OF_MEMORY, no usable device ->
 * KILN_ERR_DEVICE, anything else -> KILN_ERR_BACKEND. */
kiln_status kiln_cuda_fail(cudaError_t err, const char *fn, const char *call);
kiln_status kiln_cublas_fail(cublasStatus_t err, const char *fn, const char *call);

static inline kiln_status kiln_cuda_check(cudaError_t err, const char *fn, const char *call) {
  return err == cudaSuccess ? KILN_OK : kiln_cuda_fail(err, fn, call);
}

static inline kiln_status kiln_cublas_check(cublasStatus_t err, const char *fn,
                                            const char *call) {
  return err == CUBLAS_STATUS_SUCCESS ? KILN_OK : kiln_cublas_fail(err, fn, call);
}

/* Return from the enclosing function when a kiln_status is not KILN_OK. */
#define KILN_CUDA_TRY(expr)                                                              \
  do {                                                                                   \
    kiln_status kiln_cuda_try_ = (expr);                                                 \
    if (kiln_cuda_try_ != KILN_OK)                                                       \
      return kiln_cuda_try_;                                                             \
  } while (0)

#endif /* KILN_CUDA_ERRORS_H */
