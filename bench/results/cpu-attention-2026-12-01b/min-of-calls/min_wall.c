/* The fastest of n kiln_attention calls (the first left out), in ms: thread
 * CPU time, or wall time with WALL set (threads: OMP_NUM_THREADS).
 *   cc -O2 -Iinclude min_wall.c -Lbuild-cpu -lkiln -Wl,-rpath,$PWD/build-cpu -o min_wall
 *   min_wall f32|bf16 B S Sk H Hkv D causal n */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static kiln_tensor *mk(kiln_context *ctx, kiln_dtype dt, int nd, const int64_t *s) {
  kiln_tensor *t = NULL; if (kiln_tensor_create(ctx, dt, nd, s, &t)) exit(1);
  unsigned char *p = kiln_tensor_data(t); size_t n = kiln_tensor_nbytes(t);
  for (size_t i = 0; i < n; i++) p[i] = (i & 1) ? 0x3c : (unsigned char)(i * 37);
  return t;
}
static double now(void) { struct timespec ts; clock_gettime(getenv("WALL") ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts); return ts.tv_sec + 1e-9 * ts.tv_nsec; }
int main(int argc, char **argv) {
  kiln_dtype dt = strcmp(argv[1], "bf16") == 0 ? KILN_BF16 : KILN_F32;
  int64_t b = atoll(argv[2]), s = atoll(argv[3]), sk = atoll(argv[4]), h = atoll(argv[5]), hkv = atoll(argv[6]), d = atoll(argv[7]);
  int causal = atoi(argv[8]), n = atoi(argv[9]);
  kiln_context *ctx; if (kiln_context_create(KILN_DEVICE_CPU, 0, &ctx)) return 1;
  const int64_t qs[4] = {b, s, h, d}, ks[4] = {b, sk, hkv, d};
  kiln_tensor *q = mk(ctx, dt, 4, qs), *k = mk(ctx, dt, 4, ks), *v = mk(ctx, dt, 4, ks), *o = mk(ctx, dt, 4, qs);
  kiln_attention_params p = {.causal = causal};
  double best = 1e9;
  for (int i = 0; i < n; i++) {
    double t0 = now();
    if (kiln_attention(ctx, q, k, v, o, &p)) { fprintf(stderr, "%s\n", kiln_last_error()); return 1; }
    double t = now() - t0; if (i && t < best) best = t;
  }
  printf("%.2f", best * 1e3);
  return 0;
}
