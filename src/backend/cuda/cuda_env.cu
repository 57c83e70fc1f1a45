/* The environment switches of the CUDA backend, each read in one place.
 * They exist for measuring and testing, never for correctness. */
#include "cuda_backend.h"

#include <stdlib.h>
#include <string.h>

/* KILN_CUDA_MATMUL=own|cublaslt, read once per context (see kiln_cuda). */
int kiln_cuda_env_matmul_route(void) {
  const char *v = getenv("KILN_CUDA_MATMUL");
  if (v && strcmp(v, "own") == 0)
    return 1;
  if (v && strcmp(v, "cublaslt") == 0)
    return 2;
  return 0;
}

/* KILN_CUDA_PDL=0 turns programmatic dependent launch off (cuda_common.cuh),
 * read once per process. */
bool kiln_cuda_env_pdl(void) {
  static const bool on = [] {
    const char *v = getenv("KILN_CUDA_PDL");
    return !(v && v[0] == '0' && v[1] == 0);
  }();
  return on;
}

/* KILN_CUDA_GEMV=0 leaves few-row products with b [K, N] to the thin
 * kernels instead of the n-major GEMV (cuda_gemv.cu), read once per
 * process. */
bool kiln_cuda_env_gemv(void) {
  static const bool on = [] {
    const char *v = getenv("KILN_CUDA_GEMV");
    return !(v && v[0] == '0' && v[1] == 0);
  }();
  return on;
}

/* KILN_CUDA_MMA_BLOCKS=N asks the tensor-core attention kernel for at least
 * N resident blocks per SM (a register cap; cuda_attention_mma.cu lists the
 * values each head dim is built with), read once per process; 0: the
 * tuned default. */
int kiln_cuda_env_mma_blocks(void) {
  static const int n = [] {
    const char *v = getenv("KILN_CUDA_MMA_BLOCKS");
    return v ? atoi(v) : 0;
  }();
  return n;
}
