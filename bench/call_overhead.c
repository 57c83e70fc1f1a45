/*
 * Per-call cost of a small kiln op called from C, for comparison with the
 * same call from Python (bench/call_overhead.py builds and runs this
 * against the libkiln of the installed wheel, so both sides run one
 * library).
 *
 *   call_overhead <op> <cpu|cuda> <out|alloc> <calls per sample> <samples>
 *
 * Two clocks per sample: wall time, and this thread's CPU time, which on a
 * shared, oversubscribed machine leaves out the time the thread waited for
 * a core (the figure to read there, with OMP_NUM_THREADS=1).
 *
 * op: scale (x [1, 64]), add ([1, 64] + [64]), softmax ([1, 128]),
 * rms_norm ([1, 128]), matmul ([8, 8] @ [8, 8]). "out" writes a tensor made
 * once (kiln.op(..., out=y) in Python); "alloc" creates and destroys the
 * output at every call (kiln.op(...) without out=). Prints the median
 * nanoseconds per call over the samples, wall then thread CPU; on the GPU
 * each sample is the calls back to back and one sync.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

static double now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#define CHECK(call)                                                                     \
  do {                                                                                  \
    kiln_status s_ = (call);                                                            \
    if (s_ != KILN_OK) {                                                                \
      fprintf(stderr, "call_overhead: %s: %s\n", #call, kiln_last_error());            \
      exit(1);                                                                          \
    }                                                                                   \
  } while (0)

typedef struct bench {
  kiln_context *ctx;
  kiln_tensor *x, *w, *out;
  int op;
} bench;

enum { OP_SCALE, OP_ADD, OP_SOFTMAX, OP_RMS_NORM, OP_MATMUL };

static kiln_status call(const bench *b, kiln_tensor *out) {
  switch (b->op) {
  case OP_SCALE: return kiln_scale(b->ctx, b->x, 2.0f, out);
  case OP_ADD: return kiln_add(b->ctx, b->x, b->w, out);
  case OP_SOFTMAX: return kiln_softmax(b->ctx, b->x, out, NULL);
  case OP_RMS_NORM: return kiln_rms_norm(b->ctx, b->x, b->w, 1e-6f, out);
  default: return kiln_matmul(b->ctx, b->x, b->w, out, NULL);
  }
}

static kiln_tensor *filled(kiln_context *ctx, int ndim, const int64_t *shape) {
  kiln_tensor *t = NULL;
  CHECK(kiln_tensor_create(ctx, KILN_F32, ndim, shape, &t));
  size_t n = (size_t)kiln_tensor_numel(t);
  float *v = malloc(n * sizeof *v);
  for (size_t i = 0; i < n; i++)
    v[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  CHECK(kiln_tensor_write(t, v, n * sizeof *v));
  free(v);
  return t;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: call_overhead <scale|add|softmax|rms_norm|matmul> <cpu|cuda> "
                    "<out|alloc> <calls> <samples>\n");
    return 2;
  }
  const char *names[] = {"scale", "add", "softmax", "rms_norm", "matmul"};
  bench b = {0};
  b.op = -1;
  for (int i = 0; i < 5; i++)
    if (strcmp(argv[1], names[i]) == 0)
      b.op = i;
  if (b.op < 0)
    return 2;
  kiln_device dev = strcmp(argv[2], "cuda") == 0 ? KILN_DEVICE_CUDA : KILN_DEVICE_CPU;
  int alloc = strcmp(argv[3], "alloc") == 0;
  long calls = atol(argv[4]), samples = atol(argv[5]);
  CHECK(kiln_context_create(dev, 0, &b.ctx));
  const int64_t row64[2] = {1, 64}, v64[1] = {64}, row128[2] = {1, 128}, v128[1] = {128},
                sq8[2] = {8, 8};
  const int64_t *xs = row64, *ws = v64, *os = row64;
  switch (b.op) {
  case OP_SOFTMAX:
  case OP_RMS_NORM: xs = os = row128; ws = v128; break;
  case OP_MATMUL: xs = ws = os = sq8; break;
  default: break;
  }
  b.x = filled(b.ctx, 2, xs);
  b.w = filled(b.ctx, b.op == OP_MATMUL ? 2 : 1, ws);
  CHECK(kiln_tensor_create(b.ctx, KILN_F32, 2, os, &b.out));
  double *per = malloc((size_t)samples * sizeof *per);
  double *cpu = malloc((size_t)samples * sizeof *cpu);
  for (long s = -1; s < samples; s++) { /* sample -1 warms up */
    double t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    for (long i = 0; i < calls; i++) {
      if (alloc) {
        kiln_tensor *o = NULL;
        CHECK(kiln_tensor_create(b.ctx, KILN_F32, 2, os, &o));
        CHECK(call(&b, o));
        kiln_tensor_destroy(o);
      } else {
        CHECK(call(&b, b.out));
      }
    }
    CHECK(kiln_sync(b.ctx));
    if (s >= 0) {
      per[s] = (now_ns(CLOCK_MONOTONIC) - t0) / (double)calls;
      cpu[s] = (now_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)calls;
    }
  }
  qsort(per, (size_t)samples, sizeof *per, cmp);
  qsort(cpu, (size_t)samples, sizeof *cpu, cmp);
  printf("%.1f %.1f\n", per[samples / 2], cpu[samples / 2]);
  free(per);
  free(cpu);
  kiln_tensor_destroy(b.x);
  kiln_tensor_destroy(b.w);
  kiln_tensor_destroy(b.out);
  kiln_context_destroy(b.ctx);
  return 0;
}
