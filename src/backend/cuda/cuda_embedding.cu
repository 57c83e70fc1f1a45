/*
 * kiln_embedding on the GPU: out[i, :] = table[ids[i], :], a gather of
 * whole rows in the widest unit (16 bytes where the rows and pointers
 * allow) that the row size and alignment permit; no rounding, a copy.
 *
 * The ids live on the device, so the op cannot check them before it
 * returns. The kernel checks each one: a bad id's row is written as zeros
 * (never read out of bounds) and the lookup is raised as a deferred error
 * (KILN_DEFER_EMBEDDING_ID, cuda_deferred.cuh), which the next kiln_sync or
 * kiln_tensor_read reports, as kiln.h promises.
 */
#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "cuda_deferred.cuh"

#include <stdint.h>

using namespace kiln_dev;

namespace {

constexpr int THREADS = 256;

struct embedding_args {
  const void *table;
  const int32_t *ids;
  void *out;
  int64_t n_ids, vocab;
  int64_t units; /* per row, of the kernel's unit type */
  kiln_cuda_defer defer;
};

/* threadIdx.y and blockIdx.y walk the ids, x the units of a row. U: the
 * copy unit (uint4 = 16 bytes down to 2 bytes). */
template <class U> __global__ void __launch_bounds__(THREADS) embedding_kernel(embedding_args a) {
  KILN_KERNEL_BEGIN();
  const int64_t col = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  const int64_t step = (int64_t)gridDim.y * blockDim.y;
  for (int64_t i = (int64_t)blockIdx.y * blockDim.y + threadIdx.y; i < a.n_ids; i += step) {
    const int32_t id = __ldg(a.ids + i);
    const bool ok = id >= 0 && id < a.vocab;
    if (!ok && col == 0)
      defer_raise(a.defer, KILN_DEFER_EMBEDDING_ID, i, id, a.vocab);
    if (col >= a.units)
      continue;
    U v = {};
    if (ok)
      v = __ldg((const U *)a.table + (int64_t)id * a.units + col);
    ((U *)a.out)[i * a.units + col] = v;
  }
}

template <class U> cudaError_t launch_embedding(embedding_args a, int64_t row_bytes,
                                                cudaStream_t stream) {
  a.units = row_bytes / (int64_t)sizeof(U);
  int tx = 32;
  while (tx < THREADS && tx < a.units)
    tx *= 2;
  const int ty = THREADS / tx;
  const int64_t gx = (a.units + tx - 1) / tx, gy = (a.n_ids + ty - 1) / ty;
  if (gx > INT32_MAX)
    return cudaErrorInvalidConfiguration;
  const dim3 grid((unsigned)gx, (unsigned)(gy < 65535 ? gy : 65535));
  return launch(embedding_kernel<U>, grid, dim3(tx, ty), 0, stream, a);
}

/* The widest unit that divides a row and both pointers' alignment. */
static int unit_bytes(const void *table, const void *out, int64_t row_bytes) {
  const uintptr_t bits = (uintptr_t)table | (uintptr_t)out | (uintptr_t)row_bytes;
  for (int u = 16; u > 2; u /= 2)
    if ((bits & (uintptr_t)(u - 1)) == 0)
      return u;
  return 2;
}

} // namespace

static kiln_status kiln_cuda_embedding(void *state, const kiln_embedding_op *op) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_embedding";
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  embedding_args a = {op->table->data, (const int32_t *)op->ids->data, op->out->data,
                      op->n_ids, op->vocab, 0, kiln_cuda_defer_of(st)};
  const int64_t row_bytes = op->d * (int64_t)kiln_dtype_size(op->dtype);
  if (row_bytes == 0)
    return KILN_OK; /* nothing to copy; ids unread, as for an empty table row */
  cudaError_t err;
  switch (unit_bytes(a.table, a.out, row_bytes)) {
  case 16: err = launch_embedding<uint4>(a, row_bytes, st->stream); break;
  case 8: err = launch_embedding<uint2>(a, row_bytes, st->stream); break;
  case 4: err = launch_embedding<unsigned>(a, row_bytes, st->stream); break;
  default: err = launch_embedding<unsigned short>(a, row_bytes, st->stream); break;
  }
  return kiln_cuda_check(err, fn, "launching the embedding kernel");
}

KILN_CUDA_OP(embedding, kiln_cuda_embedding, NULL);
