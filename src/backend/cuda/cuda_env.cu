/* The environment switches of the CUDA backend, each read in one place.
 * They exist for measuring and testing, never for correctness. */
#include "cuda_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The integer in environment variable name when it lies in [1, most],
 * else 0 (unset, or out of range: the default). */
static int env_count(const char *name, int most) {
  const char *v = getenv(name);
  const int n = v ? atoi(v) : 0;
  return n > 0 && n <= most ? n : 0;
}

/* KILN_CUDA_MATMUL=own|cublaslt, read once per context (see kiln_cuda). */
int kiln_cuda_env_matmul_route(void) {
  const char *v = getenv("KILN_CUDA_MATMUL");
  if (v && strcmp(v, "own") == 0)
    return 1;
  if (v && strcmp(v, "cublaslt") == 0)
    return 2;
  return 0;
}

/* KILN_MATMUL_DEBUG set: the cuBLASLt route prints the time of each
 * candidate it tunes (cuda_matmul.cu), read once per process. */
bool kiln_cuda_env_matmul_debug(void) {
  static const bool on = getenv("KILN_MATMUL_DEBUG") != nullptr;
  return on;
}

/* KILN_MATMUL_TUNE=all: the cuBLASLt route times its candidates for every
 * product with beta 0, not only large ones (cuda_matmul.cu), read once per
 * process; for testing that path on small shapes. */
bool kiln_cuda_env_matmul_tune_all(void) {
  static const bool on = [] {
    const char *v = getenv("KILN_MATMUL_TUNE");
    return v && strcmp(v, "all") == 0;
  }();
  return on;
}

/* KILN_CUDA_PDL=0 turns programmatic dependent launch off (cuda_common.cuh),
 * read once per process. */
bool kiln_cuda_env_pdl(void) {
  static const bool on = [] {
    const char *v = getenv("KILN_CUDA_PDL");
    return !(v && v[0] == '0' && v[1] == 0);
  }();
  return on;
}

/* KILN_CUDA_GEMV=0 leaves few-row products with b [K, N] to the thin
 * kernels instead of the n-major GEMV (cuda_gemv.cu), read once per
 * process. */
bool kiln_cuda_env_gemv(void) {
  static const bool on = [] {
    const char *v = getenv("KILN_CUDA_GEMV");
    return !(v && v[0] == '0' && v[1] == 0);
  }();
  return on;
}

/* KILN_CUDA_GEMV_BLOCKS=N sizes the n-major GEMV's k split for N blocks
 * per SM instead of its default (cuda_gemv.cu), read once per process; for
 * measuring. */
int kiln_cuda_env_gemv_blocks(void) {
  static const int n = env_count("KILN_CUDA_GEMV_BLOCKS", 64);
  return n;
}

/* KILN_CUDA_MMA_BLOCKS=N asks the tensor-core attention kernel for at least
 * N resident blocks per SM (a register cap; cuda_attention_mma.cu lists the
 * values each head dim is built with), read once per process; unset or
 * 0: the tuned default. */
int kiln_cuda_env_mma_blocks(void) {
  static const int n = env_count("KILN_CUDA_MMA_BLOCKS", 64);
  return n;
}

/* KILN_CUDA_F32_MMA=1 sends f32 attention to the 3xTF32 tensor-core kernel
 * in auto mode wherever it fits, =0 keeps f32 on the kernels it ran on
 * before (general, decode_simt), read once per process; unset: -1, the
 * default of cuda_attention.cu (MMA_F32_IN_AUTO). */
int kiln_cuda_env_f32_mma(void) {
  static const int v = [] {
    const char *e = getenv("KILN_CUDA_F32_MMA");
    if (e && strcmp(e, "1") == 0)
      return 1;
    if (e && strcmp(e, "0") == 0)
      return 0;
    return -1;
  }();
  return v;
}

/* KILN_CUDA_F32_MMA_SPLIT=block|warp|f16: where the f32 tensor-core kernel
 * splits K and V into TF32 pieces, once per block or in each warp as it
 * reads them (cuda_attention_mma_f32.cu), or its variant on scaled f16
 * pieces (cuda_attention_mma_f32h.cu), read once per process: 1 block,
 * 2 warp, 3 f16, 0 unset (f16, the fastest measured). */
int kiln_cuda_env_f32_mma_split(void) {
  static const int v = [] {
    const char *e = getenv("KILN_CUDA_F32_MMA_SPLIT");
    if (e && strcmp(e, "block") == 0)
      return 1;
    if (e && strcmp(e, "warp") == 0)
      return 2;
    if (e && strcmp(e, "f16") == 0)
      return 3;
    return 0;
  }();
  return v;
}

/* KILN_CUDA_ROWS=token,token,... read once per process: a row-op variant
 * forced over the tuning table, for the sweep (scripts/row_sweep.sh).
 * Tokens: c1024=TxP, c4096=TxP, c32768=TxP (threads x elements per thread
 * for rows of that slot, one of the configs cuda_rows.cuh compiles);
 * kept / nokept (16-bit rms_norm rows packed in 32-bit words; softmax has
 * no kept variant); pf / nopf (persistent blocks, next row loaded during
 * this one);
 * cs / nocs (streaming stores); wide / nowide (the persistent cp.async
 * kernel for the widest rows); chunks=N (its copies in N groups: 1, 2, 4).
 * Unknown tokens are ignored. */
const kiln_cuda_rows_variant *kiln_cuda_env_rows(void) {
  static const kiln_cuda_rows_variant v = [] {
    kiln_cuda_rows_variant r = {};
    r.kept = r.pf = r.cs = r.wide = r.chunks = -1;
    const char *e = getenv("KILN_CUDA_ROWS");
    if (!e || !*e)
      return r;
    r.set = true;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", e);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      int w = 0, th = 0, pt = 0, n = 0;
      if (sscanf(t, "c%d=%dx%d", &w, &th, &pt) == 3) {
        const int slot = w == 1024 ? 0 : w == 4096 ? 1 : w == 32768 ? 2 : -1;
        if (slot >= 0) {
          r.threads[slot] = th;
          r.per_thread[slot] = pt;
        }
      } else if (sscanf(t, "chunks=%d", &n) == 1) {
        r.chunks = n;
      } else {
        const bool no = strncmp(t, "no", 2) == 0;
        const char *name = no ? t + 2 : t;
        int *flag = strcmp(name, "kept") == 0   ? &r.kept
                    : strcmp(name, "pf") == 0   ? &r.pf
                    : strcmp(name, "cs") == 0   ? &r.cs
                    : strcmp(name, "wide") == 0 ? &r.wide
                                                : NULL;
        if (flag)
          *flag = no ? 0 : 1;
      }
    }
    return r;
  }();
  return &v;
}

/* KILN_CUDA_DECODE_WAVE=N sizes the tensor-core decode kernel's key splits
 * for N blocks per SM (1 to 64; cuda_attention_decode_mma.cu), read once
 * per process; 0: the tuned default. */
int kiln_cuda_env_decode_wave(void) {
  static const int n = env_count("KILN_CUDA_DECODE_WAVE", 64);
  return n;
}

/* KILN_CUDA_DECODE_STAGES=N: the tensor-core decode kernel's pipeline depth
 * (cuda_attention_decode_mma.cu: 3 or 6; else its own choice), read once per
 * process. */
int kiln_cuda_env_decode_stages(void) {
  static const int n = env_count("KILN_CUDA_DECODE_STAGES", 64);
  return n;
}

/* KILN_CUDNN_DEBUG set: the cudnn attention route says on stderr why it
 * built or refused each plan (cuda_attention_cudnn.cu), read once per
 * process. */
bool kiln_cuda_env_cudnn_debug(void) {
  static const bool on = getenv("KILN_CUDNN_DEBUG") != nullptr;
  return on;
}

/* KILN_CUDNN_PLAN=S[,N] read once per process: build the graph with (S 1)
 * or without (S 0) the softmax statistics first, and with N, take
 * heuristics' config N (the first from N on that builds) instead of timing
 * the first few (cuda_attention_cudnn.cu); for measuring. Unset: 1, -1. */
void kiln_cuda_env_cudnn_plan(int *stats_first, int *only_config) {
  struct plan {
    int stats_first, only_config;
  };
  static const plan v = [] {
    const char *e = getenv("KILN_CUDNN_PLAN");
    const char *comma = e ? strchr(e, ',') : nullptr;
    return plan{e && e[0] == '0' ? 0 : 1, comma ? atoi(comma + 1) : -1};
  }();
  *stats_first = v.stats_first;
  *only_config = v.only_config;
}
