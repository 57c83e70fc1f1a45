/* Embedding lookup: every id is checked before any row is written, so a bad
 * id leaves out untouched, then rows are copied (same dtype: no rounding).
 * In a graph replay (zero_bad_ids) a bad id's row is zeros instead and the
 * rest are written, as the GPU kernel does, then the failure is returned. */
#include "cpu.h"

static bool bad_id(const kiln_embedding_op *op, int32_t id) { return id < 0 || id >= op->vocab; }

static kiln_status embedding(void *state, const kiln_embedding_op *op) {
  (void)state;
  const int32_t *ids = op->ids->data;
  int64_t first_bad = -1;
  for (int64_t i = 0; i < op->n_ids && first_bad < 0; i++)
    if (bad_id(op, ids[i]))
      first_bad = i;
  if (first_bad >= 0 && !op->zero_bad_ids)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "kiln_embedding: ids[%lld] is %d, outside the table's %lld rows",
                     (long long)first_bad, (int)ids[first_bad], (long long)op->vocab);
  const size_t row_bytes = cpu_row_offset(op->dtype, 1, op->d);
  const char *table = op->table->data;
  char *out = op->out->data;
#pragma omp parallel for schedule(static) if (op->n_ids * op->d > CPU_PARALLEL_MIN)
  for (int64_t i = 0; i < op->n_ids; i++) {
    if (bad_id(op, ids[i]))
      memset(out + (size_t)i * row_bytes, 0, row_bytes);
    else
      memcpy(out + (size_t)i * row_bytes, table + (size_t)ids[i] * row_bytes, row_bytes);
  }
  if (first_bad < 0)
    return KILN_OK;
  return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                   "kiln_embedding: ids[%lld] is %d, outside the table's %lld rows (that "
                   "lookup's row of out is zeros)", (long long)first_bad, (int)ids[first_bad],
                   (long long)op->vocab);
}

KILN_CPU_OP(embedding, embedding, NULL);
