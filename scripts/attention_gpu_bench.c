/*
 * Times kiln_attention on the GPU on the shapes of issue #11 (the MiniLM
 * encoder, the 16k-token prefill sweep, f32, decode against long caches)
 * and, with --check, compares each result with the composite path
 * (kiln_context_use_fused(ctx, 0): matmul, softmax, matmul) on the same
 * inputs. Uses kiln.h only. Which kernel runs is the library's routing, or
 * KILN_CUDA_ATTENTION=general|mma|mma_f32|decode|decode_simt|cudnn in the environment
 * (and for f32 KILN_CUDA_F32_MMA=1 or 0: auto mode's f32 kernel on or off).
 *
 *   attention_gpu_bench [--check] [--quick] [substring of case names]
 *
 * One line per case: microseconds per call (the mean over enough calls to
 * fill ~50 ms, enqueued back to back), TFLOP/s (4 * D flops per visible
 * (query, key) pair and head), GB/s of q, k, v and out moved once, and with
 * --check the largest |fused - composite| against the dtype's tolerance.
 */
#define _POSIX_C_SOURCE 200809L
#include "kiln.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bench_case {
  const char *name;
  kiln_dtype dtype;
  int varlen;               /* lengths random in [max / 8, max], seeded */
  int64_t b, sq, sk, hq, hkv, d;
  int causal;
  int seqlens; /* decode: seqlens_k = sk for every sequence (a full cache) */
} bench_case;

/* clang-format off */
static const bench_case cases[] = {
  {"minilm_varlen_f16", KILN_F16, 1, 128, 128, 128, 12, 12, 32, 0, 0},
  {"minilm_varlen_bf16", KILN_BF16, 1, 128, 128, 128, 12, 12, 32, 0, 0},
  {"minilm_varlen_f32", KILN_F32, 1, 128, 128, 128, 12, 12, 32, 0, 0},
  {"minilm_padded_f16", KILN_F16, 0, 128, 128, 128, 12, 12, 32, 0, 0},
  {"minilm_padded_f32", KILN_F32, 0, 128, 128, 128, 12, 12, 32, 0, 0},
  {"f32_b8_h32_s2048_d64", KILN_F32, 0, 8, 2048, 2048, 32, 32, 64, 0, 0},
  {"f32_b8_h32_s2048_d64_causal", KILN_F32, 0, 8, 2048, 2048, 32, 32, 64, 1, 0},
  {"f32_b32_h32_s512_d64", KILN_F32, 0, 32, 512, 512, 32, 32, 64, 0, 0},
  {"f32_b8_h16_s2048_d128", KILN_F32, 0, 8, 2048, 2048, 16, 16, 128, 0, 0},
  {"f32_b8_h16_s2048_d128_causal", KILN_F32, 0, 8, 2048, 2048, 16, 16, 128, 1, 0},
  {"bf16_d64_s512", KILN_BF16, 0, 32, 512, 512, 32, 32, 64, 0, 0},
  {"bf16_d64_s512_causal", KILN_BF16, 0, 32, 512, 512, 32, 32, 64, 1, 0},
  {"f16_d64_s512", KILN_F16, 0, 32, 512, 512, 32, 32, 64, 0, 0},
  {"bf16_d64_s2048", KILN_BF16, 0, 8, 2048, 2048, 32, 32, 64, 0, 0},
  {"bf16_d64_s2048_causal", KILN_BF16, 0, 8, 2048, 2048, 32, 32, 64, 1, 0},
  {"bf16_d64_s8192", KILN_BF16, 0, 2, 8192, 8192, 32, 32, 64, 0, 0},
  {"bf16_d64_s8192_causal", KILN_BF16, 0, 2, 8192, 8192, 32, 32, 64, 1, 0},
  {"bf16_d128_s512", KILN_BF16, 0, 32, 512, 512, 16, 16, 128, 0, 0},
  {"bf16_d128_s512_causal", KILN_BF16, 0, 32, 512, 512, 16, 16, 128, 1, 0},
  {"bf16_d128_s2048", KILN_BF16, 0, 8, 2048, 2048, 16, 16, 128, 0, 0},
  {"bf16_d128_s2048_causal", KILN_BF16, 0, 8, 2048, 2048, 16, 16, 128, 1, 0},
  {"bf16_d128_s8192", KILN_BF16, 0, 2, 8192, 8192, 16, 16, 128, 0, 0},
  {"bf16_d128_s8192_causal", KILN_BF16, 0, 2, 8192, 8192, 16, 16, 128, 1, 0},
  {"decode_b1_sk4096", KILN_BF16, 0, 1, 1, 4096, 32, 8, 128, 1, 1},
  {"decode_b1_sk16384", KILN_BF16, 0, 1, 1, 16384, 32, 8, 128, 1, 1},
  {"decode_b1_sk32768", KILN_BF16, 0, 1, 1, 32768, 32, 8, 128, 1, 1},
  {"decode_b16_sk4096", KILN_BF16, 0, 16, 1, 4096, 32, 8, 128, 1, 1},
  {"decode_b16_sk16384", KILN_BF16, 0, 16, 1, 16384, 32, 8, 128, 1, 1},
  {"decode_b16_sk32768", KILN_BF16, 0, 16, 1, 32768, 32, 8, 128, 1, 1},
  {"decode_sq4_b16_sk8192", KILN_BF16, 0, 16, 4, 8192, 32, 8, 128, 1, 1},
};
/* clang-format on */

#define TRY(call)                                                                          \
  do {                                                                                     \
    kiln_status s_ = (call);                                                               \
    if (s_ != KILN_OK) {                                                                   \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, kiln_last_error());    \
      exit(1);                                                                             \
    }                                                                                      \
  } while (0)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double uniform(void) { /* splitmix64, [0, 1) */
  uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static kiln_tensor *random_tensor(kiln_context *ctx, kiln_dtype dt, int ndim, const int64_t *shape) {
  kiln_tensor *t;
  TRY(kiln_tensor_create(ctx, dt, ndim, shape, &t));
  const size_t n = (size_t)kiln_tensor_numel(t);
  float *f = malloc(n * sizeof *f);
  uint16_t *h = malloc(n * sizeof *h);
  for (size_t i = 0; i < n; i++)
    f[i] = (float)(2 * uniform() - 1);
  if (dt == KILN_F32)
    TRY(kiln_tensor_write(t, f, n * 4));
  else {
    (dt == KILN_F16 ? kiln_f32_to_f16 : kiln_f32_to_bf16)(f, h, n);
    TRY(kiln_tensor_write(t, h, n * 2));
  }
  free(f);
  free(h);
  return t;
}

static kiln_tensor *i32_tensor(kiln_context *ctx, int64_t n, const int32_t *v) {
  kiln_tensor *t;
  TRY(kiln_tensor_create(ctx, KILN_I32, 1, &n, &t));
  TRY(kiln_tensor_write(t, v, (size_t)n * 4));
  return t;
}

/* out as f32 on the host. */
static float *read_f32(const kiln_tensor *t) {
  const size_t n = (size_t)kiln_tensor_numel(t);
  const kiln_dtype dt = kiln_tensor_dtype(t);
  float *f = malloc(n * sizeof *f);
  if (dt == KILN_F32) {
    TRY(kiln_tensor_read(t, f, n * 4));
    return f;
  }
  uint16_t *h = malloc(n * sizeof *h);
  TRY(kiln_tensor_read(t, h, n * 2));
  for (size_t i = 0; i < n; i++) {
    uint32_t bits;
    if (dt == KILN_BF16) {
      bits = (uint32_t)h[i] << 16;
      memcpy(&f[i], &bits, 4);
    } else { /* f16 -> f32 */
      const uint32_t sign = (uint32_t)(h[i] & 0x8000) << 16, e = (h[i] >> 10) & 31, m = h[i] & 1023;
      float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY)
                                                           : ldexpf((float)(m | 1024), (int)e - 25);
      memcpy(&bits, &v, 4);
      bits |= sign;
      memcpy(&f[i], &bits, 4);
    }
  }
  free(h);
  return f;
}

static void run_case(kiln_context *ctx, const bench_case *c, int check, int quick) {
  const int64_t B = c->b;
  int64_t *lq = malloc(B * sizeof *lq), *lk = malloc(B * sizeof *lk);
  int32_t *cu_q = malloc((B + 1) * sizeof *cu_q), *cu_k = malloc((B + 1) * sizeof *cu_k);
  int32_t *seq = malloc(B * sizeof *seq);
  cu_q[0] = cu_k[0] = 0;
  double pairs = 0; /* visible (query, key) pairs, summed over sequences */
  for (int64_t b = 0; b < B; b++) {
    lq[b] = c->sq;
    lk[b] = c->sk;
    if (c->varlen) {
      lq[b] = c->sq / 8 + (int64_t)(uniform() * (double)(c->sq - c->sq / 8 + 1));
      if (lq[b] > c->sq)
        lq[b] = c->sq;
      lk[b] = lq[b];
    }
    cu_q[b + 1] = cu_q[b] + (int32_t)lq[b];
    cu_k[b + 1] = cu_k[b] + (int32_t)lk[b];
    seq[b] = (int32_t)lk[b];
    for (int64_t i = 0; i < lq[b]; i++) {
      int64_t vis = c->causal ? i + lk[b] - lq[b] + 1 : lk[b];
      pairs += (double)(vis < 0 ? 0 : vis > lk[b] ? lk[b] : vis);
    }
  }
  const int64_t tq = cu_q[B], tk = cu_k[B];
  kiln_tensor *q, *k, *v, *out;
  if (c->varlen) {
    const int64_t qs[3] = {tq, c->hq, c->d}, ks[3] = {tk, c->hkv, c->d};
    q = random_tensor(ctx, c->dtype, 3, qs);
    k = random_tensor(ctx, c->dtype, 3, ks);
    v = random_tensor(ctx, c->dtype, 3, ks);
    TRY(kiln_tensor_create(ctx, c->dtype, 3, qs, &out));
  } else {
    const int64_t qs[4] = {B, c->sq, c->hq, c->d}, ks[4] = {B, c->sk, c->hkv, c->d};
    q = random_tensor(ctx, c->dtype, 4, qs);
    k = random_tensor(ctx, c->dtype, 4, ks);
    v = random_tensor(ctx, c->dtype, 4, ks);
    TRY(kiln_tensor_create(ctx, c->dtype, 4, qs, &out));
  }
  kiln_attention_params p = {0};
  p.causal = c->causal;
  kiln_tensor *tcu_q = NULL, *tcu_k = NULL, *tseq = NULL;
  if (c->varlen) {
    tcu_q = i32_tensor(ctx, B + 1, cu_q);
    tcu_k = i32_tensor(ctx, B + 1, cu_k);
    p.cu_seqlens_q = tcu_q;
    p.cu_seqlens_k = tcu_k;
    p.max_seqlen_q = c->sq;
    p.max_seqlen_k = c->sk;
  }
  if (c->seqlens) {
    tseq = i32_tensor(ctx, B, seq);
    p.seqlens_k = tseq;
  }

  TRY(kiln_attention(ctx, q, k, v, out, &p)); /* warm-up, and the first check of it */
  TRY(kiln_sync(ctx));
  double t0 = now();
  TRY(kiln_attention(ctx, q, k, v, out, &p));
  TRY(kiln_sync(ctx));
  double one = now() - t0;
  int n = (int)((quick ? 0.01 : 0.05) / (one > 1e-6 ? one : 1e-6));
  n = n < 3 ? 3 : n > 2000 ? 2000 : n;
  t0 = now();
  for (int i = 0; i < n; i++)
    TRY(kiln_attention(ctx, q, k, v, out, &p));
  TRY(kiln_sync(ctx));
  const double us = (now() - t0) / n * 1e6;
  const double es = (double)kiln_dtype_size(c->dtype);
  const double bytes = es * c->d * (2.0 * tq * c->hq + 2.0 * tk * c->hkv);
  printf("%-26s %-5s %10.1f us %8.1f TFLOP/s %8.1f GB/s", c->name, kiln_dtype_name(c->dtype), us,
         4.0 * c->d * c->hq * pairs / (us * 1e-6) / 1e12, bytes / (us * 1e-6) / 1e9);

  if (check) {
    float *fused = read_f32(out);
    TRY(kiln_context_use_fused(ctx, 0));
    TRY(kiln_attention(ctx, q, k, v, out, &p));
    TRY(kiln_context_use_fused(ctx, 1));
    float *comp = read_f32(out);
    const size_t nout = (size_t)kiln_tensor_numel(out);
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < nout; i++) {
      const double e = fabs((double)fused[i] - comp[i]);
      if (!(e <= worst)) { /* NaN counts as worst */
        worst = isnan(e) ? INFINITY : e;
        at = i;
      }
    }
    /* outputs are averages of v in [-1, 1]; the composite rounds P to the dtype */
    const double tol = c->dtype == KILN_F32 ? 2e-4 : c->dtype == KILN_F16 ? 4e-3 : 3e-2;
    printf("   max|fused-composite| %.2e at %zu (tol %.0e) %s", worst, at, tol,
           worst <= tol ? "ok" : "FAIL");
    free(fused);
    free(comp);
  }
  printf("\n");
  fflush(stdout);
  kiln_tensor_destroy(q);
  kiln_tensor_destroy(k);
  kiln_tensor_destroy(v);
  kiln_tensor_destroy(out);
  kiln_tensor_destroy(tcu_q);
  kiln_tensor_destroy(tcu_k);
  kiln_tensor_destroy(tseq);
  free(lq);
  free(lk);
  free(cu_q);
  free(cu_k);
  free(seq);
}

int main(int argc, char **argv) {
  int check = 0, quick = 0;
  const char *filter = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--check") == 0)
      check = 1;
    else if (strcmp(argv[i], "--quick") == 0)
      quick = 1;
    else
      filter = argv[i];
  }
  kiln_context *ctx;
  TRY(kiln_context_create(KILN_DEVICE_CUDA, 0, &ctx));
  const char *route = getenv("KILN_CUDA_ATTENTION"), *f32 = getenv("KILN_CUDA_F32_MMA");
  printf("# %s; route %s; KILN_CUDA_F32_MMA %s\n", kiln_context_describe(ctx),
         route ? route : "auto", f32 ? f32 : "unset");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (!filter || strstr(cases[i].name, filter))
      run_case(ctx, &cases[i], check, quick);
  kiln_context_destroy(ctx);
  return 0;
}
