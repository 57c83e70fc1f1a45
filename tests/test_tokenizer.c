/* The WordPiece tokenizer (kiln_tokenizer_*):
 *  - host/tokenizer_hf_refs: every case of tests/data/tokenizer_refs.tsv
 *    (texts and the ids of Hugging Face's fast tokenizer, made by
 *    tests/data/make_tokenizer_refs.py) on the cached all-MiniLM-L6-v2;
 *    SKIPPED, saying how to fetch it, when the cache is empty;
 *  - host/tokenizer_random_*: random texts on a vocabulary the test writes,
 *    against a slow, obvious reference of the same rules written here;
 *  - settings read from the JSON files, and every failing call.
 * KILN_MODEL_DIR points the first test at another copy of the model. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KILN_TEST_DATA_DIR
#error "KILN_TEST_DATA_DIR must name tests/data"
#endif

/* ------------------------------------------------------- model folders */

/* A folder of its own under $TMPDIR, removed by rm_model_dir. */
static char *make_dir(kt_env *env) {
  const char *tmp = getenv("TMPDIR");
  char *dir = kt_alloc(512);
  snprintf(dir, 512, "%s/kiln_tok_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) KT_FAIL(env, "mkdtemp(%s): %s", dir, strerror(errno));
  return dir;
}

static void write_file(kt_env *env, const char *dir, const char *name, const char *data, size_t n) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) KT_FAIL(env, "cannot write %s: %s", path, strerror(errno));
  fwrite(data, 1, n, f);
  fclose(f);
}

static void write_text(kt_env *env, const char *dir, const char *name, const char *text) {
  write_file(env, dir, name, text, strlen(text));
}

static void rm_model_dir(const char *dir) {
  static const char *names[] = {"vocab.txt", "tokenizer_config.json", "sentence_bert_config.json",
                                "config.json", "vocab.txt/x"};
  char path[600];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    remove(path);
  }
  snprintf(path, sizeof path, "%s/vocab.txt", dir);
  rmdir(path);
  rmdir(dir);
}

/* --------------------------------------------- the slow reference
 * For the test's own alphabet only: ASCII, "é"/"É" (e plus a stripped
 * accent), U+0301 (a nonspacing mark), "中" (a CJK ideograph), U+00A0 (a
 * space), U+0007 (a control), byte 0xFF (invalid UTF-8), U+302E and
 * U+1D165 (spacing marks of combining classes 224 and 216, which NFD puts
 * in order), and the special tokens written out. Every rule is applied in
 * the most direct way. */

static const char *alphabet[] = {"a", "b", "c", "d", "e", "A", "B", "E", "z", "1", "!", ",", "[", "]",
                                 "#", " ", " ", " ", "\t", "\xc3\xa9", "\xc3\x89", "\xcc\x81",
                                 "\xe4\xb8\xad", "\xc2\xa0", "\x07", "\xff", "[CLS]", "[SEP]", "[MASK]",
                                 "[UNK]", "[PAD]", "ab", "abc", "ba", "ca",
                                 "\xe3\x80\xae", "\xf0\x9d\x85\xa5", "\xcc\x81"};
#define N_ALPHA (sizeof alphabet / sizeof alphabet[0])

typedef struct vocab {
  char **tok;
  int n;
} vocab;

static int ref_id(const vocab *v, const char *s, size_t n, bool cont) {
  for (int i = v->n - 1; i >= 0; i--) { /* the last duplicate wins */
    const char *t = v->tok[i];
    if (cont) {
      if (strncmp(t, "##", 2) != 0) continue;
      t += 2;
    }
    if (strlen(t) == n && memcmp(t, s, n) == 0) return i;
  }
  return -1;
}

/* Normalized words of the text as a list of (text, special id). */
typedef struct word {
  char text[1024];
  size_t n;
  int chars;
  int special; /* -1 for a normal word */
} word;

/* Combining classes of the alphabet's characters (from UnicodeData.txt). */
static int ref_ccc(int32_t c) {
  return c == 0x301 ? 230 : c == 0x302E ? 224 : c == 0x1D165 ? 216 : 0;
}

static size_t ref_utf8(int32_t c, char *out) {
  if (c < 0x80) return out[0] = (char)c, 1;
  if (c < 0x800) return out[0] = (char)(0xC0 | c >> 6), out[1] = (char)(0x80 | (c & 63)), 2;
  if (c < 0x10000)
    return out[0] = (char)(0xE0 | c >> 12), out[1] = (char)(0x80 | ((c >> 6) & 63)),
           out[2] = (char)(0x80 | (c & 63)), 3;
  return out[0] = (char)(0xF0 | c >> 18), out[1] = (char)(0x80 | ((c >> 12) & 63)),
         out[2] = (char)(0x80 | ((c >> 6) & 63)), out[3] = (char)(0x80 | (c & 63)), 4;
}

/* In Hugging Face's order, one whole step at a time: special tokens split
 * off the raw text; clean (controls and invalid bytes dropped); NFD (é, É
 * decomposed; each run of nonzero combining classes stably sorted); Mn
 * (U+0301) dropped; lowercase; split on spaces, punctuation and CJK. */
static int ref_words(const vocab *v, const char *s, size_t len, word *out, int max_words) {
  static const char *specials[] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};
  int32_t *cp = malloc(sizeof(int32_t) * (2 * len + 1)); /* -1 - id for a special token */
  size_t n_cp = 0;
  for (size_t i = 0; i < len;) {
    bool matched = false;
    for (int k = 0; k < 5 && !matched; k++) {
      size_t sl = strlen(specials[k]);
      if (i + sl <= len && memcmp(s + i, specials[k], sl) == 0) {
        cp[n_cp++] = -1 - ref_id(v, specials[k], sl, false);
        i += sl;
        matched = true;
      }
    }
    if (matched) continue;
    unsigned char c = (unsigned char)s[i];
    if (c == 0x07 || c == 0xFF) i++; /* a control; an invalid byte is U+FFFD: both dropped */
    else if (c < 0x80) cp[n_cp++] = c, i++;
    else if (c == 0xC2) cp[n_cp++] = 0xA0, i += 2;
    else if (c == 0xC3) cp[n_cp++] = s[i + 1] == '\xa9' ? 'e' : 'E', cp[n_cp++] = 0x301, i += 2;
    else if (c == 0xCC) cp[n_cp++] = 0x301, i += 2;
    else if (c == 0xE4) cp[n_cp++] = 0x4E2D, i += 3;
    else if (c == 0xE3) cp[n_cp++] = 0x302E, i += 3;
    else cp[n_cp++] = 0x1D165, i += 4; /* F0 9D 85 A5 */
  }
  for (size_t a = 0; a < n_cp;) { /* canonical order: bubble sort each run, stable */
    if (cp[a] < 0 || ref_ccc(cp[a]) == 0) {
      a++;
      continue;
    }
    size_t b = a;
    while (b < n_cp && cp[b] >= 0 && ref_ccc(cp[b]) != 0) b++;
    for (size_t pass = a; pass < b; pass++)
      for (size_t k = a; k + 1 < b; k++)
        if (ref_ccc(cp[k]) > ref_ccc(cp[k + 1])) {
          int32_t t = cp[k];
          cp[k] = cp[k + 1], cp[k + 1] = t;
        }
    a = b;
  }
  int n = 0;
  word cur = {.special = -1};
#define FLUSH()                                                                                    \
  do {                                                                                             \
    if (cur.chars > 0 && n < max_words) out[n++] = cur;                                            \
    cur = (word){.special = -1};                                                                   \
  } while (0)
  for (size_t i = 0; i < n_cp; i++) {
    int32_t c = cp[i];
    char u[4];
    if (c < 0) {
      FLUSH();
      if (n < max_words) out[n++] = (word){.special = -1 - c};
      continue;
    }
    if (c == 0x301) continue;
    if (c >= 'A' && c <= 'Z') c += 32;
    bool space = c == ' ' || c == '\t' || c == 0xA0;
    bool alone = c == 0x4E2D || (c < 0x80 && !space && !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9'));
    if (space || alone) FLUSH();
    if (space) continue;
    size_t nb = ref_utf8(c, u);
    if (cur.n + nb < sizeof cur.text) memcpy(cur.text + cur.n, u, nb);
    cur.n += nb;
    cur.chars++;
    if (alone) FLUSH();
  }
  FLUSH();
#undef FLUSH
  free(cp);
  return n;
}

/* [CLS] pieces [SEP], pieces cut to max_length - 2. */
static int ref_encode(const vocab *v, const char *s, size_t len, int max_length, int32_t *ids) {
  word *words = malloc(sizeof(word) * (len + 1));
  int nw = ref_words(v, s, len, words, (int)len + 1);
  int unk = ref_id(v, "[UNK]", 5, false);
  int n = 0;
  ids[n++] = ref_id(v, "[CLS]", 5, false);
  for (int w = 0; w < nw && n - 1 < max_length - 2; w++) {
    if (words[w].special >= 0) {
      ids[n++] = words[w].special;
      continue;
    }
    int32_t pieces[128];
    int np = 0;
    bool bad = words[w].chars > 100;
    for (size_t start = 0; !bad && start < words[w].n;) {
      size_t end = words[w].n;
      int id = -1;
      for (; end > start; end--) { /* longest first, the quadratic way */
        id = ref_id(v, words[w].text + start, end - start, start > 0);
        if (id >= 0) break;
      }
      if (id < 0) bad = true;
      else pieces[np++] = id, start = end;
    }
    if (bad) {
      ids[n++] = unk;
      continue;
    }
    for (int k = 0; k < np && n - 1 < max_length - 2; k++) ids[n++] = pieces[k];
  }
  ids[n++] = ref_id(v, "[SEP]", 5, false);
  free(words);
  return n;
}

/* A vocabulary of the specials, punctuation, CJK, and random pieces over
 * a..e with and without "##"; "d" alone is never a word start, so some
 * words have no match and become [UNK]. */
static vocab random_vocab(kt_env *env, const char *dir) {
  static const char *fixed[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", ",", "[", "]", "#",
                                "\xe4\xb8\xad", "1", "z", "a", "b", "c", "e", "##a", "##b", "##e",
                                "##\xe3\x80\xae", "##\xf0\x9d\x85\xa5", "e\xf0\x9d\x85\xa5",
                                "##\xf0\x9d\x85\xa5\xe3\x80\xae", "a\xe3\x80\xae"};
  vocab v = {.tok = kt_alloc(sizeof(char *) * 400)};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) v.tok[v.n++] = (char *)fixed[i];
  while (v.n < 300) {
    char *t = kt_alloc(16);
    int k = 0;
    if (kt_rand(env) % 2) t[k++] = '#', t[k++] = '#';
    int len = 1 + (int)(kt_rand(env) % 4);
    for (int j = 0; j < len; j++) t[k++] = "abcde"[kt_rand(env) % 5];
    if (strcmp(t, "d") == 0) continue;
    v.tok[v.n++] = t;
  }
  size_t total = 0;
  for (int i = 0; i < v.n; i++) total += strlen(v.tok[i]) + 1;
  char *text = kt_alloc(total + 1), *p = text;
  for (int i = 0; i < v.n; i++) p += sprintf(p, "%s\n", v.tok[i]);
  write_text(env, dir, "vocab.txt", text);
  return v;
}

static void random_text(kt_env *env, char *buf, size_t *len, int n_symbols) {
  size_t n = 0;
  for (int i = 0; i < n_symbols; i++) {
    const char *sym = alphabet[kt_rand(env) % N_ALPHA];
    /* words of letters mostly, so pieces chain */
    if (kt_rand(env) % 3) sym = alphabet[kt_rand(env) % 5];
    size_t sl = strlen(sym);
    memcpy(buf + n, sym, sl);
    n += sl;
  }
  *len = n;
}

static void expect_ids(kt_env *env, const char *what, const int32_t *got, int64_t n_got,
                       const int32_t *want, int64_t n_want) {
  if (n_got == n_want && memcmp(got, want, (size_t)n_got * sizeof *got) == 0) return;
  int64_t i = 0;
  while (i < n_got && i < n_want && got[i] == want[i]) i++;
  KT_FAIL(env, "%s: %lld ids, want %lld; first difference at %lld: got %d, want %d", what,
          (long long)n_got, (long long)n_want, (long long)i, i < n_got ? got[i] : -1,
          i < n_want ? want[i] : -1);
}

static void test_random_vs_reference(kt_env *env) {
  char *dir = make_dir(env);
  vocab v = random_vocab(env, dir);
  kiln_tokenizer *tok = NULL;
  KT_OK(env, kiln_tokenizer_load(dir, &tok));
  assert_int_equal(kiln_tokenizer_vocab_size(tok), v.n);
  assert_int_equal(kiln_tokenizer_max_length(tok), 512); /* no file says otherwise */
  char *text = kt_alloc(8 * 400 + 16);
  int32_t *want = kt_alloc(sizeof(int32_t) * 4000), *got = kt_alloc(sizeof(int32_t) * 4000);
  int iters = kt_quick() ? 300 : 3000;
  for (int it = 0; it < iters; it++) {
    size_t len;
    int symbols = (int)(kt_rand(env) % (it % 10 == 0 ? 400 : 40));
    random_text(env, text, &len, symbols);
    int max_length = it % 3 == 0 ? 2 + (int)(kt_rand(env) % 30) : 512;
    int n_want = ref_encode(&v, text, len, max_length, want);
    for (int i = 0; i < 4000; i++) got[i] = -7;
    int64_t n_got = 0;
    KT_OK(env, kiln_tokenizer_encode(tok, text, len, max_length == 512 ? 0 : max_length, got, 4000,
                                     &n_got));
    char what[64];
    snprintf(what, sizeof what, "random text %d (%zu bytes, max_length %d)", it, len, max_length);
    expect_ids(env, what, got, n_got, want, n_want);
    if (got[n_got] != -7) KT_FAIL(env, "%s: wrote past the %lld ids", what, (long long)n_got);
  }
  kiln_tokenizer_destroy(tok);
  rm_model_dir(dir);
}

/* One tokenizer, four threads encoding the same texts at once: each must
 * get what one thread alone got (the tokenizer is read-only after load). */
#define THREAD_TEXTS 200
typedef struct thread_job {
  const kiln_tokenizer *tok;
  char **texts;
  size_t *lens;
  int32_t (*ids)[512];
  int64_t *n;
  int status;
} thread_job;

static void *thread_encode(void *arg) {
  thread_job *job = arg;
  for (int rep = 0; rep < 5; rep++)
    for (int i = 0; i < THREAD_TEXTS; i++)
      if (kiln_tokenizer_encode(job->tok, job->texts[i], job->lens[i], 0, job->ids[i], 512,
                                &job->n[i]) != KILN_OK)
        job->status = 1;
  return NULL;
}

static void test_threads(kt_env *env) {
  char *dir = make_dir(env);
  random_vocab(env, dir);
  kiln_tokenizer *tok = NULL;
  KT_OK(env, kiln_tokenizer_load(dir, &tok));
  char **texts = kt_alloc(sizeof(char *) * THREAD_TEXTS);
  size_t *lens = kt_alloc(sizeof(size_t) * THREAD_TEXTS);
  int32_t(*want)[512] = kt_alloc(sizeof(int32_t[512]) * THREAD_TEXTS);
  int64_t *n_want = kt_alloc(sizeof(int64_t) * THREAD_TEXTS);
  for (int i = 0; i < THREAD_TEXTS; i++) {
    texts[i] = kt_alloc(8 * 200 + 16);
    random_text(env, texts[i], &lens[i], (int)(kt_rand(env) % 200));
    KT_OK(env, kiln_tokenizer_encode(tok, texts[i], lens[i], 0, want[i], 512, &n_want[i]));
  }
  enum { T = 4 };
  thread_job jobs[T];
  pthread_t th[T];
  for (int t = 0; t < T; t++) {
    jobs[t] = (thread_job){tok, texts, lens, kt_alloc(sizeof(int32_t[512]) * THREAD_TEXTS),
                           kt_alloc(sizeof(int64_t) * THREAD_TEXTS), 0};
    if (pthread_create(&th[t], NULL, thread_encode, &jobs[t]) != 0) KT_FAIL(env, "pthread_create");
  }
  for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
  for (int t = 0; t < T; t++) {
    if (jobs[t].status) KT_FAIL(env, "thread %d: an encode failed", t);
    for (int i = 0; i < THREAD_TEXTS; i++) {
      char what[64];
      snprintf(what, sizeof what, "thread %d, text %d", t, i);
      expect_ids(env, what, jobs[t].ids[i], jobs[t].n[i], want[i], n_want[i]);
    }
  }
  kiln_tokenizer_destroy(tok);
  rm_model_dir(dir);
}

/* Words around the 100-character limit, in characters not bytes, and a
 * word of 10^6 characters (one [UNK], read in linear time). */
static void test_long_words(kt_env *env) {
  char *dir = make_dir(env);
  write_text(env, dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\na\n##a\ne\n##e\n");
  kiln_tokenizer *tok = NULL;
  KT_OK(env, kiln_tokenizer_load(dir, &tok));
  size_t big = 1000000;
  char *text = kt_alloc(2 * big + 8);
  int32_t ids[600];
  int64_t n;
  for (int chars = 98; chars <= 102; chars++) {
    for (int accented = 0; accented < 2; accented++) {
      size_t len = 0;
      for (int i = 0; i < chars; i++) {
        if (accented) memcpy(text + len, "\xc3\xa9", 2), len += 2; /* é -> e: 2 bytes, 1 char */
        else text[len++] = 'a';
      }
      KT_OK(env, kiln_tokenizer_encode(tok, text, len, 512, ids, 600, &n));
      if (chars > 100) {
        assert_int_equal(n, 3);
        assert_int_equal(ids[1], 1);
      } else {
        assert_int_equal(n, chars + 2);
        assert_int_equal(ids[1], accented ? 6 : 4);
        assert_int_equal(ids[n - 2], accented ? 7 : 5);
      }
    }
  }
  memset(text, 'a', big);
  KT_OK(env, kiln_tokenizer_encode(tok, text, big, 0, ids, 600, &n));
  assert_int_equal(n, 3);
  assert_int_equal(ids[1], 1);
  /* a million combining marks after one letter: all dropped, "e" stays */
  text[0] = 'e';
  for (size_t i = 0; i < big / 2; i++) memcpy(text + 1 + 2 * i, "\xcc\x81", 2);
  KT_OK(env, kiln_tokenizer_encode(tok, text, 1 + big, 0, ids, 600, &n));
  assert_int_equal(n, 3);
  assert_int_equal(ids[1], 6);
  /* a million one-letter words: truncated at 512, reading stops there */
  for (size_t i = 0; i < big; i++) text[i] = i % 2 ? ' ' : 'a';
  KT_OK(env, kiln_tokenizer_encode(tok, text, big, 512, ids, 600, &n));
  assert_int_equal(n, 512);
  assert_int_equal(ids[511], 3);
  kiln_tokenizer_destroy(tok);
  rm_model_dir(dir);
}

/* do_lower_case, strip_accents, tokenize_chinese_chars, the special tokens'
 * names and the maximum length, each from its file. */
static void test_settings(kt_env *env) {
  char *dir = make_dir(env);
  write_text(env, dir, "vocab.txt",
             "<pad>\n<unk>\n<s>\n</s>\nAB\nab\n\xc3\xa9\ne\n\xe4\xb8\xad\n\xe4\xb8\xad\xe4\xb8\xad\n"
             "##\xe4\xb8\xad\n[CLS]\n");
  write_text(env, dir, "tokenizer_config.json",
             "{\"do_lower_case\": false, \"strip_accents\": null, \"tokenize_chinese_chars\": false,"
             " \"unk_token\": \"<unk>\", \"cls_token\": {\"content\": \"<s>\"}, \"sep_token\": \"</s>\","
             " \"pad_token\": \"<pad>\", \"model_max_length\": 1000000000000000019884624838656}");
  write_text(env, dir, "config.json", "{\"max_position_embeddings\": 64}");
  kiln_tokenizer *tok = NULL;
  KT_OK(env, kiln_tokenizer_load(dir, &tok));
  assert_int_equal(kiln_tokenizer_max_length(tok), 64); /* model_max_length capped */
  assert_int_equal(kiln_tokenizer_token_id(tok, "<s>"), 2);
  assert_int_equal(kiln_tokenizer_token_id(tok, "##\xe4\xb8\xad"), 10);
  assert_int_equal(kiln_tokenizer_token_id(tok, "missing"), -1);
  assert_string_equal(kiln_tokenizer_token(tok, 4), "AB");
  assert_null(kiln_tokenizer_token(tok, 12));
  assert_null(kiln_tokenizer_token(tok, -1));
  int32_t ids[16];
  int64_t n;
  /* no lowercasing, no accent stripping, CJK not spaced, [CLS] not special
   * here but "<s>" is */
  const char *text = "AB ab \xc3\xa9 \xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad <s>[CLS]";
  KT_OK(env, kiln_tokenizer_encode(tok, text, strlen(text), 0, ids, 16, &n));
  int32_t want[] = {2, 4, 5, 6, 9, 10, 2, 1, 1, 1, 3}; /* "[", "CLS", "]": [UNK] each */
  expect_ids(env, "settings", ids, n, want, 11);
  kiln_tokenizer_destroy(tok);

  /* sentence_bert_config.json's max_seq_length wins over the tokenizer's */
  write_text(env, dir, "sentence_bert_config.json", "{\"max_seq_length\": 7, \"do_lower_case\": false}");
  KT_OK(env, kiln_tokenizer_load(dir, &tok));
  assert_int_equal(kiln_tokenizer_max_length(tok), 7);
  kiln_tokenizer_destroy(tok);
  rm_model_dir(dir);
}

/* ------------------------------------------------------ failing calls */

static void expect_load_fails(kt_env *env, const char *dir, const char *arg, const char *needle) {
  kiln_tokenizer *tok = (kiln_tokenizer *)(uintptr_t)0x1;
  const char *needles[] = {needle, NULL};
  kt_expect_error(env, kiln_tokenizer_load(dir, &tok), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tokenizer_load", arg, needle ? needles : NULL);
  if (tok != NULL) KT_FAIL(env, "kiln_tokenizer_load failed but left *out set");
}

static void test_load_errors(kt_env *env) {
  kiln_tokenizer *tok = NULL;
  kt_expect_error(env, kiln_tokenizer_load("/", NULL), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tokenizer_load", "out", NULL);
  expect_load_fails(env, NULL, "model_dir", NULL);
  expect_load_fails(env, "/nonexistent/kiln/model", "model_dir", "/nonexistent/kiln/model");
  char *dir = make_dir(env);
  expect_load_fails(env, dir, NULL, "vocab.txt"); /* no vocab.txt */
  write_text(env, dir, "vocab.txt", "");
  expect_load_fails(env, dir, NULL, "empty");
  write_text(env, dir, "vocab.txt", "[CLS]\n[SEP]\nhello\n");
  expect_load_fails(env, dir, NULL, "unk_token");
  write_text(env, dir, "vocab.txt", "[UNK]\n[CLS]\n[SEP]\nhello\n");
  write_text(env, dir, "tokenizer_config.json", "{\"do_lower_case\": tru");
  expect_load_fails(env, dir, NULL, "tokenizer_config.json");
  write_text(env, dir, "tokenizer_config.json", "[1, 2]");
  expect_load_fails(env, dir, NULL, "tokenizer_config.json");
  write_text(env, dir, "tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
  expect_load_fails(env, dir, NULL, "do_lower_case");
  write_text(env, dir, "tokenizer_config.json", "{\"cls_token\": 5}");
  expect_load_fails(env, dir, NULL, "cls_token");
  write_text(env, dir, "tokenizer_config.json", "{\"cls_token\": \"<nope>\"}");
  expect_load_fails(env, dir, NULL, "<nope>");
  write_text(env, dir, "tokenizer_config.json", "{}");
  write_text(env, dir, "sentence_bert_config.json", "{\"max_seq_length\": -3}");
  expect_load_fails(env, dir, NULL, "max_seq_length");
  write_text(env, dir, "sentence_bert_config.json", "{\"max_seq_length\": 16}");
  write_text(env, dir, "config.json", "\x01garbage");
  expect_load_fails(env, dir, NULL, "config.json");
  write_text(env, dir, "config.json", "{}");
  KT_OK(env, kiln_tokenizer_load(dir, &tok)); /* and now it loads */
  assert_int_equal(kiln_tokenizer_max_length(tok), 16);
  kiln_tokenizer_destroy(tok);
  kiln_tokenizer_destroy(NULL);
  /* vocab.txt that is a folder */
  rm_model_dir(dir);
  dir = make_dir(env);
  char path[600];
  snprintf(path, sizeof path, "%s/vocab.txt", dir);
  mkdir(path, 0700);
  expect_load_fails(env, dir, NULL, "vocab.txt");
  rm_model_dir(dir);
  /* getters on NULL */
  assert_int_equal(kiln_tokenizer_vocab_size(NULL), 0);
  assert_int_equal(kiln_tokenizer_max_length(NULL), 0);
  assert_int_equal(kiln_tokenizer_token_id(NULL, "a"), -1);
}

static void test_encode_errors(kt_env *env) {
  char *dir = make_dir(env);
  write_text(env, dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n,\nworld\n");
  kiln_tokenizer *tok = NULL;
  KT_OK(env, kiln_tokenizer_load(dir, &tok));
  int32_t ids[8];
  int64_t n;
  const char *text = "hello, world hello";
  size_t len = strlen(text);
#define POISON() (memset(ids, 0x5a, sizeof ids), n = -99)
#define UNTOUCHED()                                                                                \
  do {                                                                                             \
    for (int i = 0; i < 8; i++)                                                                    \
      if (ids[i] != 0x5a5a5a5a) KT_FAIL(env, "a failing call wrote ids[%d]", i);                   \
  } while (0)
  POISON();
  kt_expect_error(env, kiln_tokenizer_encode(NULL, text, len, 0, ids, 8, &n),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tokenizer_encode", "tok", NULL);
  UNTOUCHED();
  kt_expect_error(env, kiln_tokenizer_encode(tok, text, len, 0, ids, 8, NULL),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tokenizer_encode", "n_ids", NULL);
  UNTOUCHED();
  kt_expect_error(env, kiln_tokenizer_encode(tok, NULL, 3, 0, ids, 8, &n),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tokenizer_encode", "text", NULL);
  UNTOUCHED();
  kt_expect_error(env, kiln_tokenizer_encode(tok, text, len, 1, ids, 8, &n),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tokenizer_encode", "max_length", NULL);
  kt_expect_error(env, kiln_tokenizer_encode(tok, text, len, -5, ids, 8, &n),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tokenizer_encode", "max_length", NULL);
  kt_expect_error(env, kiln_tokenizer_encode(tok, text, len, 0, NULL, 8, &n),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tokenizer_encode", "ids", NULL);
  kt_expect_error(env, kiln_tokenizer_encode(tok, text, len, 0, ids, -1, &n),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tokenizer_encode", "capacity", NULL);
  UNTOUCHED();
  if (n != -99) KT_FAIL(env, "a failing call set *n_ids to %lld", (long long)n);
  /* too small: nothing written, *n_ids says what it takes (6 ids) */
  const char *needles[] = {"6 ids", NULL};
  for (int64_t cap = 0; cap < 6; cap++) {
    POISON();
    kt_expect_error(env, kiln_tokenizer_encode(tok, text, len, 0, cap ? ids : NULL, cap, &n),
                    KILN_ERR_INVALID_ARGUMENT, "kiln_tokenizer_encode", "ids", needles);
    UNTOUCHED();
    assert_int_equal(n, 6);
  }
  /* the same with truncation: 4 ids asked, 3 slots; and a long max_length */
  POISON();
  kt_expect_error(env, kiln_tokenizer_encode(tok, text, len, 4, ids, 3, &n),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tokenizer_encode", "ids", NULL);
  UNTOUCHED();
  assert_int_equal(n, 4);
  POISON();
  kt_expect_error(env, kiln_tokenizer_encode(tok, text, len, 100000, ids, 5, &n),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tokenizer_encode", "ids", NULL);
  UNTOUCHED();
  assert_int_equal(n, 6);
  /* and exactly enough works, with nothing written past it */
  POISON();
  KT_OK(env, kiln_tokenizer_encode(tok, text, len, 0, ids, 6, &n));
  int32_t want[] = {2, 4, 5, 6, 4, 3};
  expect_ids(env, "capacity 6", ids, n, want, 6);
  assert_int_equal(ids[6], 0x5a5a5a5a);
  POISON();
  KT_OK(env, kiln_tokenizer_encode(tok, NULL, 0, 0, ids, 2, &n));
  assert_int_equal(n, 2);
  assert_int_equal(ids[0], 2);
  assert_int_equal(ids[1], 3);
#undef POISON
#undef UNTOUCHED
  kiln_tokenizer_destroy(tok);
  rm_model_dir(dir);
}

/* ------------------------------------------ Hugging Face's own ids */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* KILN_MODEL_DIR, else the cache of scripts/fetch_model.sh; true when it
 * holds a vocabulary. */
static bool cached_model(char *dir, size_t cap) {
  const char *env_dir = getenv("KILN_MODEL_DIR");
  const char *cache = getenv("KILN_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
             *home = getenv("HOME");
  if (env_dir && *env_dir) snprintf(dir, cap, "%s", env_dir);
  else if (cache && *cache) snprintf(dir, cap, "%s/models/all-MiniLM-L6-v2", cache);
  else if (xdg && *xdg) snprintf(dir, cap, "%s/kiln/models/all-MiniLM-L6-v2", xdg);
  else snprintf(dir, cap, "%s/.cache/kiln/models/all-MiniLM-L6-v2", home ? home : ".");
  char vocab_path[1100];
  snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", dir);
  return access(vocab_path, R_OK) == 0;
}

static void test_hf_refs(kt_env *env) {
  char dir[1024];
  if (!cached_model(dir, sizeof dir)) {
    print_message("[  SKIPPED ] %s: no model in %s; fetch it with scripts/fetch_model.sh\n",
                  env->name, dir);
    skip();
  }
  kiln_tokenizer *tok = NULL;
  KT_OK(env, kiln_tokenizer_load(dir, &tok));
  assert_int_equal(kiln_tokenizer_vocab_size(tok), 30522);
  assert_int_equal(kiln_tokenizer_max_length(tok), 256);

  FILE *f = fopen(KILN_TEST_DATA_DIR "/tokenizer_refs.tsv", "rb");
  if (!f) KT_FAIL(env, "cannot open " KILN_TEST_DATA_DIR "/tokenizer_refs.tsv");
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  int cases = 0, lineno = 0;
  size_t text_cap = 1 << 16;
  char *text = malloc(text_cap);
  int32_t want[1024], ids[1024];
  while ((got = getline(&line, &cap, f)) >= 0) {
    lineno++;
    if (line[0] == '#' || got <= 1) continue;
    char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
    if (!tab2) {
      free(line), free(text), fclose(f);
      KT_FAIL(env, "tokenizer_refs.tsv:%d: not three fields", lineno);
    }
    long max_length = strtol(line, NULL, 10);
    size_t hex_len = (size_t)(tab2 - tab1 - 1);
    if (hex_len / 2 > text_cap) text_cap = hex_len, text = realloc(text, text_cap);
    size_t len = hex_len / 2;
    for (size_t i = 0; i < len; i++)
      text[i] = (char)(hexval(tab1[1 + 2 * i]) * 16 + hexval(tab1[2 + 2 * i]));
    int n_want = 0;
    for (char *p = tab2 + 1; *p && *p != '\n' && n_want < 1024;) {
      want[n_want++] = (int32_t)strtol(p, &p, 10);
      while (*p == ' ') p++;
    }
    for (int i = 0; i < 1024; i++) ids[i] = -7;
    int64_t n = 0;
    kiln_status s = kiln_tokenizer_encode(tok, text, len, max_length, ids, 1024, &n);
    if (s != KILN_OK || n != n_want || memcmp(ids, want, sizeof(int32_t) * (size_t)n) != 0 ||
        ids[n] != -7) {
      int64_t i = 0;
      while (i < n && i < n_want && ids[i] == want[i]) i++;
      print_message("tokenizer_refs.tsv:%d (%zu bytes, max_length %ld): %s; %lld ids, want %d; "
                    "first difference at %lld: got %s (%d), want %s (%d)\n",
                    lineno, len, max_length, kiln_status_string(s), (long long)n, n_want,
                    (long long)i, i < n ? kiln_tokenizer_token(tok, ids[i]) : "-",
                    i < n ? ids[i] : -1, i < n_want ? kiln_tokenizer_token(tok, want[i]) : "-",
                    i < n_want ? want[i] : -1);
      free(line), free(text), fclose(f);
      KT_FAIL(env, "ids differ from Hugging Face's for tokenizer_refs.tsv:%d", lineno);
    }
    cases++;
  }
  free(line);
  free(text);
  fclose(f);
  kiln_tokenizer_destroy(tok);
  if (cases < 1000) KT_FAIL(env, "only %d cases in tokenizer_refs.tsv", cases);
  print_message("%s: %d texts, ids equal to Hugging Face's\n", env->name, cases);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--model-present") == 0) {
    /* For CTest's summary: Skipped (77) without the cached model. */
    char dir[1024];
    bool present = cached_model(dir, sizeof dir);
    printf("%s: %s\n", dir, present ? "present" : "absent; fetch it with scripts/fetch_model.sh");
    return present ? 0 : 77;
  }
  kt_add_host(test_hf_refs, NULL, "tokenizer_hf_refs");
  kt_add_host(test_random_vs_reference, NULL, "tokenizer_random_vs_reference");
  kt_add_host(test_threads, NULL, "tokenizer_threads");
  kt_add_host(test_long_words, NULL, "tokenizer_long_words");
  kt_add_host(test_settings, NULL, "tokenizer_settings");
  kt_add_host(test_load_errors, NULL, "tokenizer_load_errors");
  kt_add_host(test_encode_errors, NULL, "tokenizer_encode_errors");
  return kt_run("tokenizer") ? 1 : 0;
}
