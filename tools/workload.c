/* Tensors for a case, filled with reproducible random data. */
#include "workload.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { L2_BYTES = 50 * 1000 * 1000 };

int workload_sets_wanted(const bench_case *c, kiln_device device) {
  if (c->cls == CLASS_SMALL || device != KILN_DEVICE_CUDA)
    return 1;
  double wanted = ceil(2.0 * L2_BYTES / case_bytes(c));
  return wanted < WORKLOAD_MAX_SETS ? (int)wanted : WORKLOAD_MAX_SETS;
}

/* splitmix64: a few lines, good enough statistics for benchmark data. */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* Uniform in [lo, hi): softmax inputs of this spread keep every exp() in
 * a normal range, and weights in [0.5, 1.5) keep the norm away from 0. */
static void fill_uniform(float *v, size_t n, float lo, float hi, uint64_t seed) {
  for (size_t i = 0; i < n; i++)
    v[i] = lo + (hi - lo) * (float)(next_random(&seed) >> 40) * 0x1p-24f;
}

/* Token ids uniform in [0, rows), the table's rows. */
static void *host_ids(size_t numel, int64_t rows, uint64_t seed) {
  int32_t *ids = malloc(numel * sizeof *ids);
  for (size_t i = 0; ids && i < numel; i++)
    ids[i] = (int32_t)(next_random(&seed) % (uint64_t)rows);
  return ids;
}

/* Offsets of the case's sequences, cu[0] = 0 (attention_varlen). */
static void *host_offsets(const bench_case *c, size_t numel) {
  int32_t *cu = malloc(numel * sizeof *cu);
  for (size_t b = 0; cu && b < numel; b++)
    cu[b] = b == 0 ? 0 : cu[b - 1] + (int32_t)case_seq_len(c, (int64_t)b - 1);
  return cu;
}

/* Random host data for one role, in its dtype; NULL when out of memory. */
static void *host_data(const bench_case *c, int role, size_t numel) {
  fill_kind fill = op_specs[c->op].roles[role].fill;
  uint64_t seed = 1234u + (uint64_t)role;
  if (fill == FILL_IDS)
    return host_ids(numel, c->shape[0], seed);
  if (fill == FILL_CU)
    return host_offsets(c, numel);
  float *f32 = malloc(numel * sizeof *f32);
  if (!f32)
    return NULL;
  bool gain = fill == FILL_GAIN;
  fill_uniform(f32, numel, gain ? 0.5f : -2.0f, gain ? 1.5f : 2.0f, seed);
  if (c->dtype == KILN_F32)
    return f32;
  uint16_t *half = malloc(numel * sizeof *half);
  if (half && c->dtype == KILN_F16)
    kiln_f32_to_f16(f32, half, numel);
  else if (half)
    kiln_f32_to_bf16(f32, half, numel);
  free(f32);
  return half;
}

/* The host buffer is made once per role and written into every set: the
 * sets differ in where they live, which is what defeats the cache. */
static kiln_status write_role(workload *w, int role, bool *host_oom) {
  size_t nbytes = kiln_tensor_nbytes(w->t[0][role]);
  void *data = host_data(w->c, role, nbytes / kiln_dtype_size(case_role_dtype(w->c, role)));
  if (!data) {
    *host_oom = true;
    return KILN_ERR_OUT_OF_MEMORY;
  }
  kiln_status st = KILN_OK;
  for (int s = 0; s < w->sets && st == KILN_OK; s++)
    st = kiln_tensor_write(w->t[s][role], data, nbytes);
  free(data);
  return st;
}

static void destroy_set(workload *w, int s) {
  for (int r = 0; r < WORKLOAD_ROLES; r++) {
    kiln_tensor_destroy(w->t[s][r]);
    w->t[s][r] = NULL;
  }
}

/* Creates sets one at a time so that running out of memory part-way keeps
 * the complete sets made so far. */
static kiln_status create_sets(workload *w, int wanted) {
  for (int s = 0; s < wanted; s++) {
    kiln_status st = KILN_OK;
    for (int r = 0; case_role_name(w->c, r) && st == KILN_OK; r++) {
      int64_t shape[KILN_MAX_DIMS];
      int ndim = case_role_shape(w->c, r, shape);
      st = kiln_tensor_create(w->ctx, case_role_dtype(w->c, r), ndim, shape, &w->t[s][r]);
    }
    if (st != KILN_OK) {
      destroy_set(w, s);
      return s > 0 && st == KILN_ERR_OUT_OF_MEMORY ? KILN_OK : st;
    }
    w->sets = s + 1;
  }
  return KILN_OK;
}

kiln_status workload_create(kiln_context *ctx, const bench_case *c, int wanted, workload *w,
                            char *why, size_t why_len) {
  memset(w, 0, sizeof *w);
  w->ctx = ctx;
  w->c = c;
  bool host_oom = false;
  kiln_status st = create_sets(w, wanted < 1 ? 1 : wanted);
  /* Outputs are written too, so their pages exist before any timing. */
  for (int r = 0; case_role_name(c, r) && st == KILN_OK; r++)
    st = write_role(w, r, &host_oom);
  if (st != KILN_OK) {
    snprintf(why, why_len, "%s", host_oom ? "out of host memory for the inputs" : kiln_last_error());
    workload_destroy(w);
  }
  return st;
}

void workload_destroy(workload *w) {
  for (int s = 0; s < w->sets; s++)
    destroy_set(w, s);
  w->sets = 0;
}

kiln_status workload_run(workload *w, long i) {
  return op_specs[w->c->op].run(w->ctx, w->c, w->t[i % w->sets]);
}
