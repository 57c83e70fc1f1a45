/* Times kiln_tokenizer_encode on one thread, one text per call, over the
 * texts of a tokenizer_refs.tsv-style file (max_length, hex text, ids per
 * line): the same texts bench/tokenizer.py gives Hugging Face's tokenizer.
 *   kiln_tokenizer_bench MODEL_DIR TEXTS.tsv [MIN_SECONDS] [MAX_LENGTH]
 * MAX_LENGTH 0 (default) truncates at the model's maximum as the embedder
 * does; a large value tokenizes every text whole. Prints one JSON line:
 * rates per second of this process's CPU time (one thread, so the work
 * itself, whatever else the machine runs) and per second of wall time. */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int hexval(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

int main(int argc, char **argv) {
  if (argc < 3) {
    fputs("usage: kiln_tokenizer_bench MODEL_DIR TEXTS.tsv [MIN_SECONDS] [MAX_LENGTH]\n", stderr);
    return 2;
  }
  double min_seconds = argc > 3 ? atof(argv[3]) : 3.0;
  int64_t max_length = argc > 4 ? atoll(argv[4]) : 0;
  kiln_tokenizer *tok = NULL;
  if (kiln_tokenizer_load(argv[1], &tok) != KILN_OK) {
    fprintf(stderr, "kiln_tokenizer_bench: %s\n", kiln_last_error());
    return 1;
  }
  FILE *f = fopen(argv[2], "rb");
  if (!f) {
    perror(argv[2]);
    return 1;
  }
  char **texts = NULL;
  size_t *lens = NULL, n = 0, cap = 0, bytes = 0;
  char *line = NULL;
  size_t line_cap = 0;
  while (getline(&line, &line_cap, f) >= 0) {
    if (line[0] == '#') continue;
    char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    if (!t2) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 1024;
      texts = realloc(texts, cap * sizeof *texts);
      lens = realloc(lens, cap * sizeof *lens);
    }
    size_t len = (size_t)(t2 - t1 - 1) / 2;
    texts[n] = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
      texts[n][i] = (char)(hexval(t1[1 + 2 * i]) * 16 + hexval(t1[2 + 2 * i]));
    lens[n++] = len;
    bytes += len;
  }
  free(line);
  fclose(f);
  int64_t cap_ids = max_length ? max_length : kiln_tokenizer_max_length(tok);
  int32_t *ids = malloc((size_t)cap_ids * sizeof *ids);
  /* warm-up pass, then whole passes over the set until min_seconds */
  long long tokens = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t k;
    if (kiln_tokenizer_encode(tok, texts[i], lens[i], max_length, ids, cap_ids, &k) != KILN_OK) {
      fprintf(stderr, "kiln_tokenizer_bench: %s\n", kiln_last_error());
      return 1;
    }
    tokens += k;
  }
  long passes = 0;
  double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t;
  do {
    for (size_t i = 0; i < n; i++) {
      int64_t k;
      if (kiln_tokenizer_encode(tok, texts[i], lens[i], max_length, ids, cap_ids, &k) != KILN_OK)
        return 1;
    }
    passes++;
    t = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
  } while (t < min_seconds);
  double wall = clock_s(CLOCK_MONOTONIC) - t0;
  printf("{\"texts\": %zu, \"bytes\": %zu, \"tokens\": %lld, \"passes\": %ld, \"cpu_seconds\": %.6f, "
         "\"wall_seconds\": %.6f, \"mb_per_s\": %.3f, \"tokens_per_s\": %.0f, \"wall_mb_per_s\": %.3f, "
         "\"max_length\": %lld}\n",
         n, bytes, tokens, passes, t, wall, (double)bytes * (double)passes / t / 1e6,
         (double)tokens * (double)passes / t, (double)bytes * (double)passes / wall / 1e6,
         (long long)max_length);
  for (size_t i = 0; i < n; i++) free(texts[i]);
  free(texts);
  free(lens);
  free(ids);
  kiln_tokenizer_destroy(tok);
  return 0;
}
