/* Semantic search with kiln's sentence embeddings: embed every line of a
 * file, then print, for each query, the lines closest in meaning.
 *
 *   example_search MODEL_DIR LINES.txt "a query" ["another query" ...]
 *
 * The vectors are L2-normalized, so the cosine of two texts is the dot
 * product of their rows. */
#include <kiln.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(kiln_status s, const char *what) {
  if (s != KILN_OK)
    fprintf(stderr, "%s: %s: %s\n", what, kiln_status_string(s), kiln_last_error());
  return s != KILN_OK;
}

/* The lines of path (without their newlines) in *lines; returns how many,
 * or -1. */
static long read_lines(const char *path, char **buf, char ***lines) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  fseek(f, 0, SEEK_END);
  const long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  *buf = malloc((size_t)size + 1);
  if (!*buf || fread(*buf, 1, (size_t)size, f) != (size_t)size) {
    fclose(f);
    return -1;
  }
  fclose(f);
  (*buf)[size] = '\0';
  long n = 0;
  for (long i = 0; i < size; i++)
    n += (*buf)[i] == '\n';
  *lines = malloc((size_t)(n + 1) * sizeof **lines);
  long k = 0;
  for (char *p = *buf; *p && k <= n;) {
    char *nl = strchr(p, '\n');
    if (nl)
      *nl = '\0';
    if (*p) /* skip blank lines: nothing to find there */
      (*lines)[k++] = p;
    if (!nl)
      break;
    p = nl + 1;
  }
  return k;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s MODEL_DIR LINES.txt QUERY...\n", argv[0]);
    return 2;
  }
  char *buf = NULL, **lines = NULL;
  const long n = read_lines(argv[2], &buf, &lines);
  if (n <= 0) {
    fprintf(stderr, "%s: cannot read lines from %s\n", argv[0], argv[2]);
    return 1;
  }
  const int nq = argc - 3;
  kiln_context *ctx = NULL;
  kiln_embedder *e = NULL;
  float *vec = NULL, *qvec = NULL;
  int status = 1;
  if (check(kiln_context_create(KILN_DEVICE_AUTO, 0, &ctx), "kiln_context_create"))
    goto done;
  /* f16 on the GPU (its tensor cores), f32 on the CPU. */
  const kiln_dtype dtype = kiln_context_device(ctx) == KILN_DEVICE_CUDA ? KILN_F16 : KILN_F32;
  if (check(kiln_embedder_load(ctx, argv[1], dtype, &e), "kiln_embedder_load"))
    goto done;
  const int64_t dim = kiln_embedder_dim(e);
  vec = malloc((size_t)n * (size_t)dim * sizeof *vec);
  qvec = malloc((size_t)nq * (size_t)dim * sizeof *qvec);
  if (!vec || !qvec)
    goto done;
  if (check(kiln_embedder_encode(e, (const char *const *)lines, NULL, n, vec), "embed lines") ||
      check(kiln_embedder_encode(e, (const char *const *)(argv + 3), NULL, nq, qvec),
            "embed queries"))
    goto done;
  for (int q = 0; q < nq; q++) {
    printf("\n%s\n", argv[3 + q]);
    long best[3] = {-1, -1, -1};
    float score[3] = {-2, -2, -2};
    for (long i = 0; i < n; i++) {
      float dot = 0;
      for (int64_t j = 0; j < dim; j++)
        dot += qvec[q * dim + j] * vec[i * dim + j];
      for (int r = 0; r < 3; r++)
        if (dot > score[r]) {
          for (int s = 2; s > r; s--) {
            score[s] = score[s - 1];
            best[s] = best[s - 1];
          }
          score[r] = dot;
          best[r] = i;
          break;
        }
    }
    for (int r = 0; r < 3 && best[r] >= 0; r++)
      printf("  %.3f  %s\n", score[r], lines[best[r]]);
  }
  status = 0;
done:
  free(vec);
  free(qvec);
  kiln_embedder_destroy(e);
  kiln_context_destroy(ctx);
  free(lines);
  free(buf);
  return status;
}
