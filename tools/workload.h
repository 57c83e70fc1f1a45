/* The tensors one case runs on, and issuing its op once. */
#ifndef KILN_TOOL_WORKLOAD_H
#define KILN_TOOL_WORKLOAD_H

#include "cases.h"

#include <kiln.h>
#include <stddef.h>

enum { WORKLOAD_MAX_SETS = 64, WORKLOAD_ROLES = OP_MAX_ROLES };

/* Each set holds every tensor of the op, in the order of its roles in
 * tools/ops.c (case_role_name). Successive runs use successive sets. */
typedef struct workload {
  kiln_context *ctx;
  const bench_case *c;
  int sets;
  kiln_tensor *t[WORKLOAD_MAX_SETS][WORKLOAD_ROLES];
} workload;

/* How many sets a large case rotates through on this device: enough that
 * they add up to twice a 50 MB GPU L2, so no run finds its inputs cached
 * by the run before. One on the CPU and for small cases (see measure.c). */
int workload_sets_wanted(const bench_case *c, kiln_device device);

/* Creates up to `wanted` sets of random tensors (never zeros), written once.
 * Stops early, keeping what it has, when the device runs out of memory
 * after the first set. On failure why says what went wrong. */
kiln_status workload_create(kiln_context *ctx, const bench_case *c, int wanted, workload *w,
                            char *why, size_t why_len);
void workload_destroy(workload *w);

/* Enqueues the case's op on set i % sets. */
kiln_status workload_run(workload *w, long i);

#endif
