/* `kiln tokenize [--model DIR] [--input FILE]`: one line of token ids per
 * input line, [CLS] and [SEP] included, after truncation to the model's
 * maximum length. Lines are split at '\n' only; everything else in a line
 * (a '\r', NUL bytes, invalid UTF-8) is text for the tokenizer. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "commands.h"
#include "model_dir.h"

#include <kiln.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: kiln tokenize [--model DIR] [--input FILE]\n"
    "  Prints, for each line of FILE (or stdin: no --input, or -), the token ids\n"
    "  of that line, space-separated, [CLS] and [SEP] included, truncated to the\n"
    "  model's maximum length. DIR holds vocab.txt and the tokenizer settings\n"
    "  (default: the cached all-MiniLM-L6-v2 of scripts/fetch_model.sh).\n";

/* Appends ids as decimal text and a newline to out (room for 12 bytes an id). */
static size_t format_ids(const int32_t *ids, int64_t n, char *out) {
  char *p = out;
  for (int64_t i = 0; i < n; i++) {
    char digits[12];
    int k = 0;
    uint32_t v = (uint32_t)ids[i]; /* ids are >= 0 */
    do {
      digits[k++] = (char)('0' + v % 10);
      v /= 10;
    } while (v);
    if (i) *p++ = ' ';
    while (k) *p++ = digits[--k];
  }
  *p++ = '\n';
  return (size_t)(p - out);
}

static int run(kiln_tokenizer *tok, FILE *in) {
  int64_t cap = kiln_tokenizer_max_length(tok);
  int32_t *ids = malloc((size_t)cap * sizeof *ids);
  char *text = malloc((size_t)cap * 12 + 2);
  char *line = NULL;
  size_t line_cap = 0;
  int status = 0;
  if (!ids || !text) {
    fputs("kiln tokenize: out of memory\n", stderr);
    status = 1;
  }
  ssize_t got;
  while (status == 0 && (got = getline(&line, &line_cap, in)) >= 0) {
    size_t len = (size_t)got;
    if (len > 0 && line[len - 1] == '\n') len--;
    int64_t n = 0;
    if (!tool_ok(kiln_tokenizer_encode(tok, line, len, 0, ids, cap, &n), "kiln_tokenizer_encode")) {
      status = 1;
      break;
    }
    size_t bytes = format_ids(ids, n, text);
    if (fwrite(text, 1, bytes, stdout) != bytes) {
      perror("kiln tokenize: writing the ids");
      status = 1;
    }
  }
  if (status == 0 && ferror(in)) {
    perror("kiln tokenize: reading the input");
    status = 1;
  }
  if (status == 0 && fflush(stdout) != 0) {
    perror("kiln tokenize: writing the ids");
    status = 1;
  }
  free(line);
  free(text);
  free(ids);
  return status;
}

int cmd_tokenize(int argc, char **argv) {
  const char *model = NULL, *input = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    } else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
      model = argv[++i];
    } else if (strcmp(argv[i], "--input") == 0 && i + 1 < argc) {
      input = argv[++i];
    } else {
      fprintf(stderr, "kiln tokenize: %s '%s'\n%s",
              (strcmp(argv[i], "--model") == 0 || strcmp(argv[i], "--input") == 0)
                  ? "missing value for"
                  : "unknown option",
              argv[i], usage);
      return 2;
    }
  }
  char dir[4096];
  if (!model) {
    if (!tool_default_model_dir(dir, sizeof dir)) {
      fputs("kiln tokenize: no cache folder (set KILN_CACHE_DIR or HOME) and no --model\n", stderr);
      return 1;
    }
    if (!tool_model_has(dir, "vocab.txt")) {
      tool_model_missing("tokenize", dir);
      return 1;
    }
    model = dir;
  }
  kiln_tokenizer *tok = NULL;
  if (!tool_ok(kiln_tokenizer_load(model, &tok), "kiln_tokenizer_load")) return 1;
  FILE *in = stdin;
  if (input && strcmp(input, "-") != 0) {
    in = fopen(input, "rb");
    if (!in) {
      fprintf(stderr, "kiln tokenize: cannot open %s: ", input);
      perror(NULL);
      kiln_tokenizer_destroy(tok);
      return 1;
    }
  }
  int status = run(tok, in);
  if (in != stdin) fclose(in);
  kiln_tokenizer_destroy(tok);
  return status;
}
