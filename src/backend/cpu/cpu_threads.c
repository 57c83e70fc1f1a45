/*
 * How many threads a CPU context's ops use (kiln.h, kiln_context_set_threads).
 * Set per context, or automatic: the machine's OpenMP thread count divided
 * among the CPU contexts alive, so contexts used side by side from several
 * threads do not fight over the cores (four contexts on two cores, each
 * with OpenBLAS's own default, ran 10x slower than with one thread each).
 *
 * The count is applied around each op: the calling thread's OpenMP count
 * (a per-thread setting, restored after the op so the caller's own OpenMP
 * code is untouched) and OpenBLAS's. OpenBLAS keeps one count for the whole
 * process, so it is set before every op whose context wants another one;
 * contexts used at the same time should want the same count, which the
 * automatic one gives them.
 */
#include "cpu.h"

#include <cblas.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_int live_contexts;

/* KILN_NUM_THREADS, else the creating thread's OpenMP count (which follows
 * OMP_NUM_THREADS), else 1. */
static int machine_threads(void) {
  const char *env = getenv("KILN_NUM_THREADS");
  if (env) {
    char *end = NULL;
    const long n = strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 1 && n <= 4096)
      return (int)n;
  }
  const int n = omp_get_max_threads();
  return n >= 1 ? n : 1;
}

void kiln_cpu_threads_init(cpu_state *s) {
  s->threads_set = 0;
  s->threads_machine = machine_threads();
  atomic_fetch_add(&live_contexts, 1);
}

void kiln_cpu_threads_release(cpu_state *s) {
  (void)s;
  atomic_fetch_sub(&live_contexts, 1);
}

int kiln_cpu_threads_now(const cpu_state *s) {
  if (s->threads_set)
    return s->threads_set;
  const int live = atomic_load(&live_contexts);
  const int n = s->threads_machine / (live > 1 ? live : 1);
  return n >= 1 ? n : 1;
}

kiln_status kiln_cpu_set_threads(void *state, int threads) {
  ((cpu_state *)state)->threads_set = threads;
  return KILN_OK;
}

int kiln_cpu_op_begin(void *state) {
  const int n = kiln_cpu_threads_now(state), saved = omp_get_max_threads();
  if (saved != n)
    omp_set_num_threads(n);
  if (openblas_get_num_threads() != n)
    openblas_set_num_threads(n);
  return saved;
}

void kiln_cpu_op_end(void *state, int saved) {
  (void)state;
  if (omp_get_max_threads() != saved)
    omp_set_num_threads(saved);
}
