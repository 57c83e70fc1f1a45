/* libFuzzer harness for the public API: each input is a small program of
 * contexts, tensors, fills and ops (api_program.c, api_ops.c), every call
 * checked against kiln.h's failing-call contract (api.h). Seeds in
 * fuzz/corpus/api/, written by fuzz/api_seeds.py. */
#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln_fz_run(data, size);
  return 0;
}
