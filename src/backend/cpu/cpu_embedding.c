/* Embedding lookup: every id is checked before any row is written, so a bad
 * id leaves out untouched, then rows are copied (same dtype: no rounding). */
#include "cpu.h"

kiln_status cpu_embedding(void *state, const kiln_embedding_op *op) {
  (void)state;
  const int32_t *ids = op->ids->data;
  for (int64_t i = 0; i < op->n_ids; i++)
    if (ids[i] < 0 || ids[i] >= op->vocab)
      return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                       "kiln_embedding: ids[%lld] is %d, outside the table's %lld rows",
                       (long long)i, (int)ids[i], (long long)op->vocab);
  const size_t row_bytes = cpu_row_offset(op->dtype, 1, op->d);
  const char *table = op->table->data;
  char *out = op->out->data;
#pragma omp parallel for schedule(static) if (op->n_ids * op->d > CPU_PARALLEL_MIN)
  for (int64_t i = 0; i < op->n_ids; i++)
    memcpy(out + (size_t)i * row_bytes, table + (size_t)ids[i] * row_bytes, row_bytes);
  return KILN_OK;
}
