/*
 * Deferred errors on the GPU (the contract is in backend.h): the device
 * record a kernel raises into, and the handle a host wrapper passes to its
 * kernel. Nothing here waits: kiln_cuda_deferred_report (cuda_deferred.cu)
 * turns the record into kiln_last_error() at the next sync or read.
 */
#ifndef KILN_CUDA_DEFERRED_CUH
#define KILN_CUDA_DEFERRED_CUH

#include "cuda_backend.h"

/* In device memory, all bits 1 when empty (one memset resets it): code -1
 * is none; key = index << 32 | value as u32, so atomicMin keeps the lowest
 * index. limit is the last raiser's (one launch's raisers agree). */
struct kiln_cuda_deferred_record {
  unsigned long long key;
  long long limit;
  int code;
};

/* What a kernel needs to raise: the record and the context's flag in
 * mapped host memory, set beside it so a sync learns whether to look
 * without a copy. Pass it by value in the kernel's arguments. */
struct kiln_cuda_defer {
  kiln_cuda_deferred_record *record;
  int *flag;
};

static inline kiln_cuda_defer kiln_cuda_defer_of(const kiln_cuda *st) {
  return kiln_cuda_defer{st->defer_record, st->defer_flag_dev};
}

namespace kiln_dev {

/* Raises code for element index with an int32 value and a limit. Cheap
 * enough for the failing path of any kernel: no thread waits on it. */
__device__ inline void defer_raise(const kiln_cuda_defer &d, kiln_defer_code code, int64_t index,
                                   int32_t value, long long limit) {
  const int prev = atomicCAS(&d.record->code, -1, (int)code);
  if (prev != -1 && prev != (int)code)
    return; /* another check's error came first; it is the one reported */
  const unsigned long long i = index < 0xffffffffLL ? (unsigned long long)index : 0xffffffffULL;
  atomicMin(&d.record->key, i << 32 | (uint32_t)value);
  d.record->limit = limit;
  __threadfence_system();
  *(volatile int *)d.flag = 1; /* a constant: racing writers agree */
}

} // namespace kiln_dev

#endif /* KILN_CUDA_DEFERRED_CUH */
