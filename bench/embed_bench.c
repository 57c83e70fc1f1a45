/* End-to-end sentence-embedding benchmark on kiln_embedder (text in,
 * float32 vector out, tokenization included), the cases of issue #12:
 *
 *   latency   one short text (<= 16 tokens) per call: median and min ms
 *   b128x128  128 texts of exactly 128 tokens per call: texts/s (and the
 *             model alone on the same ids through encode_ids)
 *   corpus    a file of real texts of mixed lengths, repeated: texts/s, tokens/s
 *
 *   kiln_embed_bench --model DIR --corpus FILE [--device cpu|cuda|auto]
 *                    [--dtype f32|f16|bf16] [--repeat N] [--quick]
 *
 * One JSON object per case on stdout; bench/embed_bench.sh turns them into
 * BENCHMARKS.md's table. */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void die(const char *what) {
  fprintf(stderr, "kiln_embed_bench: %s: %s\n", what, kiln_last_error());
  exit(1);
}

/* The lines of path, each its own string. */
static char **read_lines(const char *path, int64_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "kiln_embed_bench: cannot open %s\n", path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  const long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)size + 1);
  if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size)
    exit(1);
  fclose(f);
  buf[size] = '\0';
  int64_t count = 0;
  for (long i = 0; i < size; i++)
    count += buf[i] == '\n';
  char **lines = malloc((size_t)(count + 1) * sizeof *lines);
  int64_t k = 0;
  for (char *p = buf; k < count; k++) {
    char *nl = strchr(p, '\n');
    *nl = '\0';
    lines[k] = p;
    p = nl + 1;
  }
  *n = count;
  return lines;
}

int main(int argc, char **argv) {
  const char *model = NULL, *corpus = NULL, *device_name = "auto", *dtype_name = NULL;
  int repeat = 20, quick = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      quick = 1;
    else if (i + 1 < argc && strcmp(argv[i], "--model") == 0)
      model = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--corpus") == 0)
      corpus = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--device") == 0)
      device_name = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--dtype") == 0)
      dtype_name = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--repeat") == 0)
      repeat = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: kiln_embed_bench --model DIR --corpus FILE [--device cpu|cuda|auto] "
                      "[--dtype f32|f16|bf16] [--repeat N] [--quick]\n");
      return 2;
    }
  }
  if (!model || !corpus) {
    fprintf(stderr, "kiln_embed_bench: --model and --corpus are needed\n");
    return 2;
  }
  const kiln_device device = strcmp(device_name, "cpu") == 0    ? KILN_DEVICE_CPU
                             : strcmp(device_name, "cuda") == 0 ? KILN_DEVICE_CUDA
                                                                : KILN_DEVICE_AUTO;
  kiln_context *ctx;
  if (kiln_context_create(device, 0, &ctx) != KILN_OK)
    die("kiln_context_create");
  const int gpu = kiln_context_device(ctx) == KILN_DEVICE_CUDA;
  kiln_dtype dtype = gpu ? KILN_F16 : KILN_F32;
  if (dtype_name)
    dtype = strcmp(dtype_name, "f16") == 0 ? KILN_F16 : strcmp(dtype_name, "bf16") == 0 ? KILN_BF16 : KILN_F32;
  kiln_embedder *e;
  if (kiln_embedder_load(ctx, model, dtype, &e) != KILN_OK)
    die("kiln_embedder_load");
  const int64_t dim = kiln_embedder_dim(e);
  const char *dev = gpu ? "cuda" : "cpu", *dt = kiln_dtype_name(dtype);
  fprintf(stderr, "kiln_embed_bench: %s, %s\n", kiln_context_describe(ctx), dt);

  /* latency: the anchor's query, ~12 tokens */
  {
    const char *q = "How do I install the library on a fresh machine?";
    float v[4096];
    const int warm = quick ? 3 : 20, runs = quick ? 20 : 200;
    double *t = malloc((size_t)runs * sizeof *t);
    for (int i = 0; i < warm + runs; i++) {
      const double t0 = now();
      if (kiln_embedder_encode(e, &q, NULL, 1, v) != KILN_OK)
        die("encode");
      if (i >= warm)
        t[i - warm] = now() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    printf("{\"case\": \"latency\", \"device\": \"%s\", \"dtype\": \"%s\", \"tokens\": %lld, "
           "\"median_ms\": %.4f, \"min_ms\": %.4f}\n",
           dev, dt, (long long)kiln_embedder_last_tokens(e), 1e3 * t[runs / 2], 1e3 * t[0]);
    fflush(stdout);
    free(t);
  }

  /* 128 texts of exactly 128 tokens: 126 one-piece words between [CLS] and [SEP] */
  {
    static const char *const words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog",
                                        "ran", "to", "house", "with", "red", "door", "in", "city"};
    enum { B = 128, L = 128 };
    char **texts = malloc(B * sizeof *texts);
    for (int b = 0; b < B; b++) {
      texts[b] = malloc(L * 8);
      texts[b][0] = '\0';
      for (int w = 0; w < L - 2; w++) {
        strcat(texts[b], words[(b * 7 + w * 3 + w / 5) % 16]);
        strcat(texts[b], " ");
      }
    }
    float *v = malloc((size_t)B * (size_t)dim * sizeof *v);
    int32_t *ids = malloc((size_t)B * L * sizeof *ids);
    int64_t lengths[B];
    const kiln_tokenizer *tok = kiln_embedder_tokenizer(e);
    for (int b = 0; b < B; b++)
      if (kiln_tokenizer_encode(tok, texts[b], strlen(texts[b]), 0, ids + b * L, L, &lengths[b]) !=
              KILN_OK ||
          lengths[b] != L) {
        fprintf(stderr, "kiln_embed_bench: text %d is not %d tokens\n", b, L);
        return 1;
      }
    const int reps = quick ? 2 : repeat;
    for (int pass = 0; pass < 2; pass++) { /* pass 0: text -> vector; 1: model only */
      for (int i = 0; i < 3; i++) /* warm-up: the GPU captures the shape's graph here */
        if ((pass ? kiln_embedder_encode_ids(e, ids, lengths, B, v)
                  : kiln_embedder_encode(e, (const char *const *)texts, NULL, B, v)) != KILN_OK)
          die("encode");
      const double t0 = now();
      for (int i = 0; i < reps; i++)
        if ((pass ? kiln_embedder_encode_ids(e, ids, lengths, B, v)
                  : kiln_embedder_encode(e, (const char *const *)texts, NULL, B, v)) != KILN_OK)
          die("encode");
      const double secs = (now() - t0) / reps;
      printf("{\"case\": \"%s\", \"device\": \"%s\", \"dtype\": \"%s\", \"ms_per_batch\": %.4f, "
             "\"texts_per_s\": %.1f}\n",
             pass ? "b128x128_model" : "b128x128", dev, dt, 1e3 * secs, B / secs);
      fflush(stdout);
    }
    for (int b = 0; b < B; b++)
      free(texts[b]);
    free(texts);
    free(v);
    free(ids);
  }

  /* corpus: the file's lines repeated, one call per 4096 texts (the CLI's way) */
  {
    int64_t n = 0;
    char **lines = read_lines(corpus, &n);
    const int times = quick ? 1 : repeat;
    const int64_t total = n * times;
    char **all = malloc((size_t)total * sizeof *all);
    for (int64_t i = 0; i < total; i++)
      all[i] = lines[i % n];
    float *v = malloc((size_t)(total < 4096 ? total : 4096) * (size_t)dim * sizeof *v);
    if (kiln_embedder_encode(e, (const char *const *)all, NULL, n, v) != KILN_OK) /* warm-up */
      die("encode");
    int64_t tokens = 0;
    const double t0 = now();
    for (int64_t at = 0; at < total; at += 4096) {
      const int64_t count = total - at < 4096 ? total - at : 4096;
      if (kiln_embedder_encode(e, (const char *const *)all + at, NULL, count, v) != KILN_OK)
        die("encode");
      tokens += kiln_embedder_last_tokens(e);
    }
    const double secs = now() - t0;
    printf("{\"case\": \"corpus\", \"device\": \"%s\", \"dtype\": \"%s\", \"texts\": %lld, "
           "\"tokens\": %lld, \"seconds\": %.3f, \"texts_per_s\": %.1f, \"tokens_per_s\": %.0f}\n",
           dev, dt, (long long)total, (long long)tokens, secs, (double)total / secs,
           (double)tokens / secs);
    free(all);
    free(v);
    free(lines[0]);
    free(lines);
  }
  kiln_embedder_destroy(e);
  kiln_context_destroy(ctx);
  return 0;
}
