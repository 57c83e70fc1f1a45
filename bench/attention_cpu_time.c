/* CPU time of kiln_attention, for a machine whose cores are shared: run it
 * under `perf stat -e task-clock` with n calls and with 1, and the
 * difference over n - 1 is the CPU time of one call, whatever else the
 * machine runs (bench/attention_cpu_time.sh does this for the CPU cases of
 * bench/cases.tsv). Inputs are zeros: the kernel's work does not depend on
 * the values.
 *   attention_cpu_time f32|bf16|f16 B S Sk H Hkv D causal varlen n
 * varlen 1: B sequences of 16 + (7919 b + 13) % (S - 15) tokens (the
 * attention_varlen cases with minlen=16), keys the same. */
#include <kiln.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kiln_tensor *zeros(kiln_context *ctx, kiln_dtype dt, int ndim, const int64_t *shape) {
  kiln_tensor *t = NULL;
  if (kiln_tensor_create(ctx, dt, ndim, shape, &t) != KILN_OK) {
    fprintf(stderr, "%s\n", kiln_last_error());
    exit(1);
  }
  memset(kiln_tensor_data(t), 0, kiln_tensor_nbytes(t));
  return t;
}

int main(int argc, char **argv) {
  if (argc != 11) {
    fprintf(stderr, "usage: %s dtype B S Sk H Hkv D causal varlen n\n", argv[0]);
    return 2;
  }
  kiln_dtype dt = strcmp(argv[1], "bf16") == 0  ? KILN_BF16
                  : strcmp(argv[1], "f16") == 0 ? KILN_F16
                                                : KILN_F32;
  int64_t v[9];
  for (int i = 0; i < 9; i++)
    v[i] = atoll(argv[i + 2]);
  const int64_t b = v[0], s = v[1], sk = v[2], h = v[3], hkv = v[4], d = v[5];
  const int causal = (int)v[6], varlen = (int)v[7], n = (int)v[8];
  kiln_context *ctx = NULL;
  if (kiln_context_create(KILN_DEVICE_CPU, 0, &ctx) != KILN_OK)
    return 1;
  kiln_attention_params p = {.causal = causal};
  kiln_tensor *q, *k, *vv, *out;
  if (varlen) {
    const int64_t cs[1] = {b + 1};
    kiln_tensor *cu = zeros(ctx, KILN_I32, 1, cs);
    int32_t *c = kiln_tensor_data(cu);
    for (int64_t i = 0; i < b; i++)
      c[i + 1] = c[i] + (int32_t)(16 + (i * 7919 + 13) % (s - 15));
    const int64_t qs[3] = {c[b], h, d}, ks[3] = {c[b], hkv, d};
    q = zeros(ctx, dt, 3, qs), k = zeros(ctx, dt, 3, ks), vv = zeros(ctx, dt, 3, ks);
    out = zeros(ctx, dt, 3, qs);
    p.cu_seqlens_q = cu;
    p.max_seqlen_q = p.max_seqlen_k = s;
  } else {
    const int64_t qs[4] = {b, s, h, d}, ks[4] = {b, sk, hkv, d};
    q = zeros(ctx, dt, 4, qs), k = zeros(ctx, dt, 4, ks), vv = zeros(ctx, dt, 4, ks);
    out = zeros(ctx, dt, 4, qs);
  }
  for (int i = 0; i < n; i++)
    if (kiln_attention(ctx, q, k, vv, out, &p) != KILN_OK) {
      fprintf(stderr, "%s\n", kiln_last_error());
      return 1;
    }
  kiln_context_destroy(ctx); /* frees the tensors' memory with it */
  return 0;
}
