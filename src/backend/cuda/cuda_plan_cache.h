/*
 * cuBLASLt plans cached per context: the matmul descriptor, the three
 * matrix layouts and the algorithm the heuristic chose, keyed by everything
 * that changes any of them. Once a key has been seen, a matmul costs a hash
 * and a few key compares here, and no descriptor work, allocation or
 * heuristic query.
 */
#ifndef KILN_CUDA_PLAN_CACHE_H
#define KILN_CUDA_PLAN_CACHE_H

#include <cublasLt.h>
#include <stdint.h>

/* The problem after batch folding. Batch strides are not stored: they
 * follow from m, n, k and b_batched. Fields are laid out without padding
 * and the key is zeroed before it is filled, so keys compare as bytes. */
typedef struct kiln_cuda_plan_key {
  int64_t m, n, k, batch;
  int32_t dtype;
  uint8_t transpose_a, transpose_b, b_batched;
  uint8_t beta_nonzero; /* beta == 0 lets cuBLASLt skip reading out */
  uint8_t bias;         /* bias epilogue */
  uint8_t tf32;         /* f32 on TF32 tensor cores (set only for f32) */
  uint8_t aligned;      /* bit per pointer a, b, out, bias: 16-byte aligned */
  uint8_t unused[5];
} kiln_cuda_plan_key;

typedef struct kiln_cuda_plan {
  cublasLtMatmulDesc_t desc;
  /* cuBLASLt's A is our b and its B our a: row-major C = A B is computed
   * as column-major C^T = B^T A^T. c serves as both C and D. */
  cublasLtMatrixLayout_t a, b, c;
  cublasLtMatmulAlgo_t algo;
  bool has_algo;    /* false: cuBLASLt offered none; our own kernel runs */
  const void *bias; /* the bias pointer the descriptor holds now */
} kiln_cuda_plan;

#define KILN_CUDA_PLAN_SLOTS 64 /* power of two */
#define KILN_CUDA_PLAN_WAYS 8   /* slots a key may live in, from its hash on */

typedef struct kiln_cuda_plan_slot {
  uint64_t hash;
  uint64_t last_used; /* 0: empty */
  kiln_cuda_plan_key key;
  kiln_cuda_plan plan;
} kiln_cuda_plan_slot;

typedef struct kiln_cuda_plan_cache {
  kiln_cuda_plan_slot slots[KILN_CUDA_PLAN_SLOTS];
  uint64_t tick;
} kiln_cuda_plan_cache;

/* The plan cached for key, or NULL. */
kiln_cuda_plan *kiln_cuda_plan_find(kiln_cuda_plan_cache *cache, const kiln_cuda_plan_key *key);
/* Moves plan into the cache under key, evicting (destroying) the least
 * recently used plan of the key's ways when they are all taken; returns the
 * cached copy. */
kiln_cuda_plan *kiln_cuda_plan_put(kiln_cuda_plan_cache *cache, const kiln_cuda_plan_key *key,
                                   const kiln_cuda_plan *plan);
/* Frees a plan's descriptors; NULL members are fine. */
void kiln_cuda_plan_destroy(kiln_cuda_plan *plan);
void kiln_cuda_plan_cache_clear(kiln_cuda_plan_cache *cache);

#endif /* KILN_CUDA_PLAN_CACHE_H */
