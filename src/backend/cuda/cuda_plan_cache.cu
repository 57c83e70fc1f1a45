/* A set-associative cache of cuBLASLt plans: each key may sit in the
 * KILN_CUDA_PLAN_WAYS slots that follow its hash, and a full window evicts
 * its least recently used plan. No tombstones, no rehash, bounded probes. */
#include "cuda_plan_cache.h"

#include <string.h>

static_assert(sizeof(kiln_cuda_plan_key) == 48, "kiln_cuda_plan_key must have no padding");
static_assert((KILN_CUDA_PLAN_SLOTS & (KILN_CUDA_PLAN_SLOTS - 1)) == 0,
              "KILN_CUDA_PLAN_SLOTS must be a power of two");

static uint64_t key_hash(const kiln_cuda_plan_key *key) {
  uint64_t words[sizeof *key / 8];
  memcpy(words, key, sizeof words);
  uint64_t h = 0x6a09e667f3bcc908ull;
  for (uint64_t w : words) {
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
  }
  return h;
}

static kiln_cuda_plan_slot *way(kiln_cuda_plan_cache *cache, uint64_t hash, int i) {
  return &cache->slots[(hash + (uint64_t)i) & (KILN_CUDA_PLAN_SLOTS - 1)];
}

kiln_cuda_plan *kiln_cuda_plan_find(kiln_cuda_plan_cache *cache, const kiln_cuda_plan_key *key) {
  uint64_t h = key_hash(key);
  for (int i = 0; i < KILN_CUDA_PLAN_WAYS; i++) {
    kiln_cuda_plan_slot *s = way(cache, h, i);
    if (s->last_used && s->hash == h && memcmp(&s->key, key, sizeof *key) == 0) {
      s->last_used = ++cache->tick;
      return &s->plan;
    }
  }
  return NULL;
}

kiln_cuda_plan *kiln_cuda_plan_put(kiln_cuda_plan_cache *cache, const kiln_cuda_plan_key *key,
                                   const kiln_cuda_plan *plan) {
  uint64_t h = key_hash(key);
  kiln_cuda_plan_slot *victim = way(cache, h, 0);
  for (int i = 1; i < KILN_CUDA_PLAN_WAYS && victim->last_used; i++) {
    kiln_cuda_plan_slot *s = way(cache, h, i);
    if (s->last_used < victim->last_used)
      victim = s;
  }
  if (victim->last_used)
    kiln_cuda_plan_destroy(&victim->plan);
  victim->hash = h;
  victim->key = *key;
  victim->plan = *plan;
  victim->last_used = ++cache->tick;
  return &victim->plan;
}

void kiln_cuda_plan_destroy(kiln_cuda_plan *plan) {
  /* Destroying descriptors is host-side only: matmuls already enqueued or
   * captured into a graph took their parameters at enqueue time. */
  if (plan->c)
    cublasLtMatrixLayoutDestroy(plan->c);
  if (plan->b)
    cublasLtMatrixLayoutDestroy(plan->b);
  if (plan->a)
    cublasLtMatrixLayoutDestroy(plan->a);
  if (plan->desc)
    cublasLtMatmulDescDestroy(plan->desc);
  memset(plan, 0, sizeof *plan);
}

void kiln_cuda_plan_cache_clear(kiln_cuda_plan_cache *cache) {
  for (kiln_cuda_plan_slot &s : cache->slots)
    if (s.last_used)
      kiln_cuda_plan_destroy(&s.plan);
  memset(cache, 0, sizeof *cache);
}
