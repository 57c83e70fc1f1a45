/* libFuzzer harness for the safetensors reader (src/models/safetensors.c):
 * the input is a whole file. For every input, either the reader refuses it
 * (a non-empty kiln_last_error(), *out NULL) or every tensor it hands out
 * lies inside the input, after the header, aligned to its elements, apart
 * from every other tensor, with nbytes = numel * element size, and is found
 * by its name; every byte of every tensor is read (ASan checks the bounds)
 * and the float ones are converted. Sanitizer reports and timeouts are
 * failures as well. */
#include "safetensors.h"

#include <kiln.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, const char *name) {
  fprintf(stderr, "fuzz_safetensors: %s (tensor '%s')\n", what, name ? name : "");
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln_safetensors *st = (kiln_safetensors *)&size; /* must become NULL on failure */
  const kiln_status s = kiln_st_open_memory(data, size, "fuzz", &st);
  if (s != KILN_OK) {
    if (st != NULL)
      fail("*out not NULL after a failure", NULL);
    if (kiln_last_error()[0] == '\0')
      fail("failure without a message", NULL);
    return 0;
  }
  const unsigned char *lo = data + 8, *hi = data + size, *prev_end = lo;
  unsigned sum = 0;
  for (int64_t i = 0; i < kiln_st_count(st); i++) {
    const kiln_st_tensor *t = kiln_st_at(st, i);
    const unsigned char *b = t->data;
    const size_t es = kiln_st_dtype_size(t->dtype);
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++)
      numel *= t->shape[d];
    if (es == 0 || numel != t->numel || (size_t)numel * es != t->nbytes)
      fail("size does not match the shape", t->name);
    if (b < lo || b > hi || t->nbytes > (size_t)(hi - b))
      fail("data outside the input", t->name);
    if ((uintptr_t)b % es != 0)
      fail("misaligned data", t->name);
    if (t->nbytes && b < prev_end)
      fail("overlapping tensors", t->name);
    if (t->nbytes)
      prev_end = b + t->nbytes;
    if (kiln_st_find(st, t->name) != t)
      fail("not found by its name", t->name);
    for (size_t k = 0; k < t->nbytes; k++)
      sum += b[k];
    if ((t->dtype == KILN_ST_F32 || t->dtype == KILN_ST_F16 || t->dtype == KILN_ST_BF16 ||
         t->dtype == KILN_ST_F64) &&
        t->numel <= (1 << 20)) {
      float *f = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *f);
      if (f && kiln_st_to_f32(t, f, "fuzz") != KILN_OK)
        fail("a float tensor did not convert", t->name);
      free(f);
    }
  }
  kiln_st_close(st);
  return (int)(sum & 0);
}
