/* Every backend kiln knows, in one table: a new backend is one row here, a
 * kiln_device value in kiln.h and its own directory under src/backend/. */
#include "internal.h"

#include <stddef.h>

typedef struct registry_row {
  kiln_device device;
  const char *name;
  const kiln_backend *(*get)(void); /* returns NULL where the backend was not built */
} registry_row;

/* In the order KILN_DEVICE_AUTO prefers them. */
static const registry_row registry[] = {
    {KILN_DEVICE_CUDA, "cuda", kiln_backend_cuda},
    {KILN_DEVICE_CPU, "cpu", kiln_backend_cpu},
};

#define REGISTRY_ROWS (sizeof registry / sizeof registry[0])

static const registry_row *row_of(kiln_device device) {
  for (size_t i = 0; i < REGISTRY_ROWS; i++)
    if (registry[i].device == device)
      return &registry[i];
  return NULL;
}

const char *kiln_device_kind_name(kiln_device device) {
  const registry_row *r = row_of(device);
  return r ? r->name : NULL;
}

const kiln_backend *kiln_backend_for(kiln_device device) {
  const registry_row *r = row_of(device);
  return r ? r->get() : NULL;
}

kiln_device kiln_device_auto(void) {
  for (size_t i = 0; i < REGISTRY_ROWS; i++) {
    const kiln_backend *b = registry[i].get();
    if (b && b->device_count() > 0)
      return registry[i].device;
  }
  return KILN_DEVICE_CPU; /* always built and always present */
}
