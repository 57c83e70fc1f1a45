/* libFuzzer harness for the WordPiece tokenizer. The first input byte picks
 * max_length (0: the tokenizer's; else 2..257), the rest is the text, bytes
 * of any kind. For every input it checks: the call succeeds; [CLS] first,
 * [SEP] last, every id in the vocabulary, at most max_length ids; a
 * truncated encoding is a prefix of the whole one; too small an array gets
 * KILN_ERR_INVALID_ARGUMENT, the count needed, and no write. A sanitizer
 * report or a timeout (scripts/fuzz.sh runs with -timeout) is a failure too:
 * the work must stay linear in the text.
 *
 * The vocabulary: KILN_FUZZ_MODEL (a model folder) when set, else one
 * written at start-up with ASCII, accented, CJK and "##" pieces. */
#define _POSIX_C_SOURCE 200809L
#include <kiln.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static kiln_tokenizer *tok;
static int32_t cls_id, sep_id;
static int64_t vocab_size;

static void die(const char *what) {
  fprintf(stderr, "fuzz_tokenizer: %s: %s\n", what, kiln_last_error());
  abort();
}

static void write_vocab(const char *dir) {
  static const char *fixed[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "##s", "##ing",
                                "a", "##a", "b", "##b", "un", "##aff", "##able", "e", "##e", "caf",
                                "##\xc3\xa9", "\xc3\xa9", "\xe4\xb8\xad", "\xe6\x96\x87", "!", ",", ".",
                                "[", "]", "#", "##\xe3\x80\xae", "##\xf0\x9d\x85\xa5", "x", "##x",
                                "\xd0\xbf", "##\xd1\x80", "\xce\xb1", "##\xce\xb2", "1", "##2"};
  char path[512];
  snprintf(path, sizeof path, "%s/vocab.txt", dir);
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) fprintf(f, "%s\n", fixed[i]);
  /* all two-letter pieces, both kinds: long greedy chains */
  for (char c1 = 'a'; c1 <= 'z'; c1++)
    for (char c2 = 'a'; c2 <= 'z'; c2 += 3) fprintf(f, "%c%c\n##%c%c\n", c1, c2, c1, c2);
  fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  const char *model = getenv("KILN_FUZZ_MODEL");
  char dir[256];
  if (!model || !*model) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/kiln_fuzz_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
    write_vocab(dir);
    model = dir;
  }
  if (kiln_tokenizer_load(model, &tok) != KILN_OK) die("kiln_tokenizer_load");
  if (model == dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    unlink(path);
    rmdir(dir);
  }
  cls_id = kiln_tokenizer_token_id(tok, "[CLS]");
  sep_id = kiln_tokenizer_token_id(tok, "[SEP]");
  vocab_size = kiln_tokenizer_vocab_size(tok);
  return 0;
}

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz_tokenizer: " __VA_ARGS__);                                             \
      fputc('\n', stderr);                                                                         \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  int64_t max_length = data[0] == 0 ? 0 : 2 + data[0];
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  int64_t limit = max_length ? max_length : kiln_tokenizer_max_length(tok);

  /* exactly sized buffers, so ASan sees any write past them */
  int32_t *ids = malloc((size_t)limit * sizeof *ids);
  int64_t n = -1;
  if (kiln_tokenizer_encode(tok, text, len, max_length, ids, limit, &n) != KILN_OK)
    die("kiln_tokenizer_encode");
  CHECK(n >= 2 && n <= limit, "%lld ids for max_length %lld", (long long)n, (long long)limit);
  CHECK(ids[0] == cls_id && ids[n - 1] == sep_id, "not [CLS] ... [SEP]: %d ... %d", ids[0],
        ids[n - 1]);
  for (int64_t i = 0; i < n; i++)
    CHECK(ids[i] >= 0 && ids[i] < vocab_size, "id %d at %lld outside [0, %lld)", ids[i],
          (long long)i, (long long)vocab_size);

  /* the whole text: the truncated pieces are its first pieces */
  int64_t big = 4 * (int64_t)len + 2;
  int32_t *all = malloc((size_t)big * sizeof *all);
  int64_t n_all = -1;
  if (kiln_tokenizer_encode(tok, text, len, big, all, big, &n_all) != KILN_OK)
    die("kiln_tokenizer_encode (whole)");
  CHECK(n_all >= n, "whole text gave %lld ids, truncated %lld", (long long)n_all, (long long)n);
  CHECK(memcmp(all, ids, (size_t)(n - 1) * sizeof *ids) == 0, "truncation is not a prefix");
  CHECK(n == n_all || n == limit, "stopped at %lld of %lld ids below the limit", (long long)n,
        (long long)n_all);

  /* one slot short: an error, the count, nothing written */
  if (n > 0) {
    int32_t *small = malloc((size_t)n * sizeof *small);
    memset(small, 0x5a, (size_t)n * sizeof *small);
    int64_t need = -1;
    kiln_status s = kiln_tokenizer_encode(tok, text, len, max_length, n - 1 ? small : NULL, n - 1,
                                          &need);
    CHECK(s == KILN_ERR_INVALID_ARGUMENT, "capacity %lld: %s", (long long)(n - 1),
          kiln_status_string(s));
    CHECK(need == n, "capacity too small: told %lld, needs %lld", (long long)need, (long long)n);
    for (int64_t i = 0; i < n; i++) CHECK(small[i] == 0x5a5a5a5a, "failing call wrote ids");
    free(small);
  }
  free(all);
  free(ids);
  return 0;
}
