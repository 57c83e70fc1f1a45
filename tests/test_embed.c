/* kiln_embedder on a tiny random BERT the test writes itself, against a
 * float64 forward pass: every dtype, every backend, batches of awkward
 * lengths, rows back in input order, graphs replayed, and the load and
 * encode errors. With all-MiniLM-L6-v2 in the cache, agreement with the
 * stored reference vectors (tests/data/minilm_ref.npy). */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "tiny_bert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};
static const tb_config tiny = {.hidden = 24, .layers = 2, .heads = 3, .ffn = 40, .max_pos = 64,
                               .type_vocab = 2, .eps = 1e-12};
static tb_model model; /* written once in main, shared by the good-model tests */

/* How close an embedding must be, per row, relative to its largest
 * element. In f16/bf16 every op rounds its output to the dtype (u = 2^-11,
 * 2^-8) and the weights are rounded once at load; two layers of ~12 such
 * roundings compound, and LayerNorm rescales them instead of letting them
 * grow: measured worst about 4u on the CPU, so 16u. f32: the same chain in
 * f32 plus the exp/erf approximations and accumulation order of each
 * backend's kernels, measured 4e-7 (7u) on the CPU; 1e-5 leaves room for
 * the GPU's kernels. */
static double tolerance(kiln_dtype dt) {
  switch (dt) {
  case KILN_F32: return 1e-5;
  case KILN_F16: return 16.0 / 2048.0;
  default: return 16.0 / 256.0;
  }
}

static kiln_embedder *load(kt_env *env, const char *dir) {
  kiln_embedder *e = NULL;
  kiln_status s = kiln_embedder_load(env->ctx, dir, env->dtype, &e);
  KT_OK(env, s);
  return e;
}

/* Random ids: [CLS] word... [SEP] where length allows. */
static void random_ids(kt_env *env, int32_t *ids, int64_t len) {
  for (int64_t j = 0; j < len; j++)
    ids[j] = 4 + (int32_t)(kt_rand(env) % (uint64_t)(tb_vocab_size - 4));
  ids[0] = 2;
  if (len > 1)
    ids[len - 1] = 3;
}

static void check_rows(kt_env *env, const char *what, const float *out, const int32_t *ids,
                       const int64_t *lengths, int64_t n) {
  const int64_t H = tiny.hidden;
  double *got = kt_alloc((size_t)(n * H) * sizeof *got), *ref = kt_alloc((size_t)(n * H) * sizeof *ref);
  int64_t at = 0;
  for (int64_t i = 0; i < n; i++) {
    tb_reference(&model, ids + at, (int)lengths[i], ref + i * H);
    at += lengths[i];
  }
  for (int64_t i = 0; i < n * H; i++)
    got[i] = out[i];
  kt_check_close(env, what, got, ref, n * H, H, NULL, tolerance(env->dtype));
}

typedef struct ids_case {
  const char *name;
  int64_t n, min_len, max_len;
} ids_case;

static const ids_case ids_cases[] = {
    {"one_token", 1, 1, 1},
    {"one_text_3", 1, 3, 3},
    {"17_texts_1_to_64", 17, 1, 64},
    {"300_texts_1_to_64", 300, 1, 64}, /* several batches on the CPU: token and text limits */
    {"1000_texts_2_to_5", 1000, 2, 5}, /* many short ones: the per-batch text limit */
};

static void test_ids(kt_env *env) {
  const ids_case *c = env->param;
  int64_t n = c->n;
  if (kt_quick() && n > 100)
    n = 100;
  int64_t *lengths = kt_alloc((size_t)n * sizeof *lengths), total = 0;
  for (int64_t i = 0; i < n; i++)
    total += lengths[i] = c->min_len + (int64_t)(kt_rand(env) % (uint64_t)(c->max_len - c->min_len + 1));
  if (n > 2) { /* the bounds, somewhere in the middle */
    total += c->max_len - lengths[n / 2];
    lengths[n / 2] = c->max_len;
  }
  int32_t *ids = kt_alloc((size_t)total * sizeof *ids);
  for (int64_t i = 0, at = 0; i < n; at += lengths[i++])
    random_ids(env, ids + at, lengths[i]);
  float *out = kt_alloc((size_t)(n * tiny.hidden) * sizeof *out);
  for (int64_t i = 0; i < n * tiny.hidden; i++)
    out[i] = NAN;
  kiln_embedder *e = load(env, model.dir);
  const kiln_status s = kiln_embedder_encode_ids(e, ids, lengths, n, out);
  const int64_t tokens = kiln_embedder_last_tokens(e);
  kiln_embedder_destroy(e);
  KT_OK(env, s);
  if (tokens != total)
    KT_FAIL(env, "kiln_embedder_last_tokens is %lld, expected %lld", (long long)tokens,
            (long long)total);
  check_rows(env, "embedding", out, ids, lengths, n);
}

/* The same batches again and again: on the GPU the second run of a shape
 * captures a graph and later ones replay it; every run must agree. */
static void test_repeat(kt_env *env) {
  enum { N = 9 };
  int64_t lengths[N] = {5, 1, 64, 17, 3, 3, 40, 2, 9}, total = 0;
  for (int i = 0; i < N; i++)
    total += lengths[i];
  int32_t *ids = kt_alloc((size_t)total * sizeof *ids), *other = kt_alloc((size_t)total * sizeof *other);
  for (int64_t i = 0, at = 0; i < N; at += lengths[i++]) {
    random_ids(env, ids + at, lengths[i]);
    random_ids(env, other + at, lengths[i]);
  }
  const size_t bytes = N * (size_t)tiny.hidden * sizeof(float);
  float *first = kt_alloc(bytes), *again = kt_alloc(bytes), *second = kt_alloc(bytes);
  kiln_embedder *e = load(env, model.dir);
  kiln_status s = kiln_embedder_encode_ids(e, ids, lengths, N, first);
  for (int r = 0; r < 3 && s == KILN_OK; r++) {
    /* New data in the same shape between replays: the graph must read the
     * inputs' current contents. */
    s = kiln_embedder_encode_ids(e, other, lengths, N, second);
    if (s == KILN_OK)
      s = kiln_embedder_encode_ids(e, ids, lengths, N, again);
    if (s == KILN_OK && memcmp(first, again, bytes) != 0) {
      kiln_embedder_destroy(e);
      KT_FAIL(env, "run %d of the same batch differs from the first", r + 2);
    }
  }
  kiln_embedder_destroy(e);
  KT_OK(env, s);
  check_rows(env, "first batch", first, ids, lengths, N);
  check_rows(env, "second batch", second, other, lengths, N);
}

/* Texts through the tokenizer: the same vectors as the tokenizer's ids
 * through encode_ids, and as the reference. */
static void test_texts(kt_env *env) {
  static const char *const texts[] = {
      "the cat sat on the mat.", "", "hello, world!", "dogs running (kiln fire) 0123",
      "unknownword and zzz", "the the the the the the the the the the the the the the",
      ("a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g h i j k l m n o p q r s "
       "t u v w x y z a b c d e f g h i j k l m n o p q r s t u v w x y z"), /* one text, split */
      "Hello World"};
  enum { N = sizeof texts / sizeof texts[0] };
  const int64_t H = tiny.hidden;
  kiln_embedder *e = load(env, model.dir);
  const kiln_tokenizer *tok = kiln_embedder_tokenizer(e);
  const int64_t max_len = kiln_embedder_max_length(e);
  if (max_len != tiny.max_pos)
    KT_FAIL(env, "max length %lld, expected max_position_embeddings %d", (long long)max_len,
            tiny.max_pos);
  int32_t *ids = kt_alloc((size_t)(N * max_len) * sizeof *ids);
  int64_t lengths[N], at = 0;
  for (int i = 0; i < N; i++) {
    KT_OK(env, kiln_tokenizer_encode(tok, texts[i], strlen(texts[i]), max_len, ids + at,
                                     max_len, &lengths[i]));
    at += lengths[i];
  }
  float *out = kt_alloc(N * (size_t)H * sizeof *out), *from_ids = kt_alloc(N * (size_t)H * sizeof *out);
  /* lens given for half the call: texts with explicit lengths */
  size_t lens[N];
  for (int i = 0; i < N; i++)
    lens[i] = strlen(texts[i]);
  kiln_status s = kiln_embedder_encode(e, texts, lens, N, out);
  if (s == KILN_OK)
    s = kiln_embedder_encode_ids(e, ids, lengths, N, from_ids);
  kiln_embedder_destroy(e);
  KT_OK(env, s);
  for (int64_t i = 0; i < N * H; i++)
    if (out[i] != from_ids[i])
      KT_FAIL(env, "text %lld: encode and encode_ids of its ids differ", (long long)(i / H));
  check_rows(env, "embedding", out, ids, lengths, N);
}

/* Weights stored as F16 under a "bert." prefix load too. */
static void test_prefix_f16(kt_env *env) {
  tb_model m;
  const tb_options o = {.prefix = "bert.", .weights_f16 = true};
  if (!tb_write(&m, &tiny, &o, env->seed))
    KT_FAIL(env, "cannot write the model");
  int64_t lengths[3] = {7, 1, 30}, total = 38;
  int32_t ids[38];
  for (int i = 0, at = 0; i < 3; at += (int)lengths[i++])
    random_ids(env, ids + at, lengths[i]);
  float out[3 * 24];
  kiln_embedder *e = NULL;
  kiln_status s = kiln_embedder_load(env->ctx, m.dir, env->dtype, &e);
  if (s == KILN_OK)
    s = kiln_embedder_encode_ids(e, ids, lengths, 3, out);
  kiln_embedder_destroy(e);
  double ref[3 * 24], got[3 * 24];
  for (int i = 0, at = 0; i < 3; at += (int)lengths[i++])
    tb_reference(&m, ids + at, (int)lengths[i], ref + i * 24);
  tb_free(&m);
  (void)total;
  KT_OK(env, s);
  for (int i = 0; i < 3 * 24; i++)
    got[i] = out[i];
  kt_check_close(env, "embedding", got, ref, 3 * 24, 24, NULL, tolerance(env->dtype));
}

/* ----------------------------------------------------------- errors */

typedef struct load_error {
  const char *name;
  tb_options opt;
  kiln_status want;
  const char *needles[3];
} load_error;

static const load_error load_errors[] = {
    {"truncated", {.truncate = -100}, KILN_ERR_INVALID_ARGUMENT, {"model.safetensors", "outside"}},
    {"truncated_in_header", {.truncate = 50}, KILN_ERR_INVALID_ARGUMENT, {"model.safetensors", "header length"}},
    {"four_bytes", {.truncate = 4}, KILN_ERR_INVALID_ARGUMENT, {"model.safetensors", "8-byte"}},
    {"header_not_json", {.header_text = "{\"a\": [1, 2"}, KILN_ERR_INVALID_ARGUMENT, {"not valid JSON"}},
    {"header_not_object", {.header_text = "[1, 2, 3]"}, KILN_ERR_INVALID_ARGUMENT, {"not a JSON object"}},
    {"header_bad_dtype", {.header_text = "{\"x\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}"},
     KILN_ERR_INVALID_ARGUMENT, {"'x'", "F33"}},
    {"offsets_out_of_range", {.offset_tensor = "encoder.layer.1.output.dense.weight"},
     KILN_ERR_INVALID_ARGUMENT, {"encoder.layer.1.output.dense.weight", "outside"}},
    {"wrong_shape", {.bad_shape = "encoder.layer.0.attention.self.key.weight"}, KILN_ERR_SHAPE,
     {"encoder.layer.0.attention.self.key.weight", "[24, 23]", "[24, 24]"}},
    {"wrong_shape_ffn_bias", {.bad_shape = "encoder.layer.1.intermediate.dense.bias"}, KILN_ERR_SHAPE,
     {"encoder.layer.1.intermediate.dense.bias", "[39]", "[40]"}},
    {"missing_tensor", {.drop = "encoder.layer.1.output.LayerNorm.bias"}, KILN_ERR_INVALID_ARGUMENT,
     {"encoder.layer.1.output.LayerNorm.bias", "no tensor"}},
    {"missing_word_embeddings", {.drop = "embeddings.word_embeddings.weight"}, KILN_ERR_INVALID_ARGUMENT,
     {"embeddings.word_embeddings.weight"}},
    {"integer_weights", {.i32_tensor = "encoder.layer.0.attention.output.dense.weight"}, KILN_ERR_DTYPE,
     {"encoder.layer.0.attention.output.dense.weight", "I32"}},
    {"vocab_larger_than_table", {.extra_vocab = 5}, KILN_ERR_SHAPE, {"vocab.txt", "65", "60"}},
    {"config_not_json", {.config_text = "{\"hidden_size\": 24,"}, KILN_ERR_INVALID_ARGUMENT,
     {"config.json", "JSON"}},
    {"config_missing_hidden", {.config_text = "{\"num_hidden_layers\": 2}"}, KILN_ERR_INVALID_ARGUMENT,
     {"config.json", "hidden_size"}},
    {"config_heads_not_dividing", {.config_text = "{\"hidden_size\": 24, \"num_hidden_layers\": 2, "
      "\"num_attention_heads\": 5, \"intermediate_size\": 40, \"vocab_size\": 60, "
      "\"max_position_embeddings\": 64}"}, KILN_ERR_SHAPE, {"24", "5"}},
    {"config_relu", {.config_text = "{\"hidden_size\": 24, \"num_hidden_layers\": 2, "
      "\"num_attention_heads\": 3, \"intermediate_size\": 40, \"vocab_size\": 60, "
      "\"max_position_embeddings\": 64, \"hidden_act\": \"relu\"}"}, KILN_ERR_UNSUPPORTED, {"relu"}},
};

static void test_load_error(kt_env *env) {
  const load_error *c = env->param;
  tb_model m;
  if (!tb_write(&m, &tiny, &c->opt, env->seed)) {
    tb_free(&m);
    KT_FAIL(env, "cannot write the model");
  }
  kiln_embedder *e = (kiln_embedder *)&m; /* must become NULL */
  const kiln_status s = kiln_embedder_load(env->ctx, m.dir, env->dtype, &e);
  tb_free(&m);
  const char *needles[4] = {c->needles[0], c->needles[1], c->needles[2], NULL};
  if (s == KILN_OK)
    kiln_embedder_destroy(e);
  kt_expect_error(env, s, c->want, "kiln_embedder_load", NULL, needles);
  if (e)
    KT_FAIL(env, "*out is not NULL after a failed load");
}

static void test_load_missing(kt_env *env) {
  kiln_embedder *e = NULL;
  kiln_status s = kiln_embedder_load(env->ctx, "/nonexistent/kiln-model", env->dtype, &e);
  kt_expect_error(env, s, KILN_ERR_INVALID_ARGUMENT, "kiln_embedder_load", NULL,
                  (const char *[]){"/nonexistent/kiln-model", NULL});
  s = kiln_embedder_load(env->ctx, model.dir, KILN_I32, &e);
  kt_expect_error(env, s, KILN_ERR_DTYPE, "kiln_embedder_load", "dtype", (const char *[]){"i32", NULL});
  s = kiln_embedder_load(NULL, model.dir, env->dtype, &e);
  kt_expect_error(env, s, KILN_ERR_INVALID_ARGUMENT, "kiln_embedder_load", "ctx", NULL);
  s = kiln_embedder_load(env->ctx, NULL, env->dtype, &e);
  kt_expect_error(env, s, KILN_ERR_INVALID_ARGUMENT, "kiln_embedder_load", "model_dir", NULL);
}

/* Bad calls to encode: the status, a message naming the function and the
 * argument, out untouched. Each is checked right after its call, since the
 * message is the last failure's. */
#define EXPECT_BAD(call, fn, arg, needle)                                                        \
  do {                                                                                            \
    const kiln_status got_ = (call);                                                              \
    kt_expect_error(env, got_, KILN_ERR_INVALID_ARGUMENT, fn, arg, (const char *[]){needle, NULL}); \
    if (memcmp(out, keep, sizeof out) != 0)                                                       \
      KT_FAIL(env, "%s: a failing call wrote into out", #call);                                   \
  } while (0)

static void test_encode_errors(kt_env *env) {
  kiln_embedder *e = load(env, model.dir);
  float out[4 * 24], keep[4 * 24];
  for (int i = 0; i < 4 * 24; i++)
    keep[i] = out[i] = (float)i;
  const char *texts[4] = {"the cat", "sat", NULL, "mat"};
  const size_t lens[4] = {7, 3, 0, 3};
  const int32_t ids[6] = {2, 31, 3, 2, 60, 3};
  static const char *const enc = "kiln_embedder_encode", *const enc_ids = "kiln_embedder_encode_ids";
  EXPECT_BAD(kiln_embedder_encode(e, texts, NULL, 0, out), enc, "n", "0");
  EXPECT_BAD(kiln_embedder_encode(e, NULL, NULL, 1, out), enc, "texts", NULL);
  EXPECT_BAD(kiln_embedder_encode(e, texts, NULL, 1, NULL), enc, "out", NULL);
  EXPECT_BAD(kiln_embedder_encode(e, texts, NULL, 4, out), enc, NULL, "texts[2]");
  EXPECT_BAD(kiln_embedder_encode(NULL, texts, NULL, 1, out), enc, "e", NULL);
  EXPECT_BAD(kiln_embedder_encode_ids(e, ids, (const int64_t[]){3, 3}, 2, out), enc_ids, NULL, "60");
  EXPECT_BAD(kiln_embedder_encode_ids(e, ids, (const int64_t[]){3, 0}, 2, out), enc_ids, NULL, "lengths[1]");
  EXPECT_BAD(kiln_embedder_encode_ids(e, ids, (const int64_t[]){65}, 1, out), enc_ids, NULL, "65");
  EXPECT_BAD(kiln_embedder_encode_ids(e, ids, (const int64_t[]){3}, -1, out), enc_ids, "n", "-1");
  EXPECT_BAD(kiln_embedder_encode_ids(e, NULL, (const int64_t[]){3}, 1, out), enc_ids, "ids", NULL);
  /* A NULL text of length 0 is an empty text, not an error. */
  const kiln_status ok = kiln_embedder_encode(e, texts, lens, 4, out);
  kiln_embedder_destroy(e);
  KT_OK(env, ok);
}

/* ------------------------------------------ all-MiniLM-L6-v2, if cached */

static const char *minilm_dir(void) {
  static char dir[1024];
  const char *env_dir = getenv("KILN_TEST_MODEL_DIR");
  if (env_dir && *env_dir)
    return env_dir;
  const char *cache = getenv("KILN_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
             *home = getenv("HOME");
  if (cache && *cache)
    snprintf(dir, sizeof dir, "%s/models/all-MiniLM-L6-v2", cache);
  else if (xdg && *xdg)
    snprintf(dir, sizeof dir, "%s/kiln/models/all-MiniLM-L6-v2", xdg);
  else
    snprintf(dir, sizeof dir, "%s/.cache/kiln/models/all-MiniLM-L6-v2", home ? home : "");
  return dir;
}

/* float32 [rows, cols] from a .npy file; NULL when it is not one. */
static float *read_npy(const char *path, int64_t *rows, int64_t *cols) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  unsigned char pre[10];
  float *data = NULL;
  if (fread(pre, 1, 10, f) == 10 && memcmp(pre, "\x93NUMPY", 6) == 0 && pre[6] == 1) {
    const size_t hl = (size_t)pre[8] | (size_t)pre[9] << 8;
    char *h = calloc(1, hl + 1);
    long long r = 0, c = 0;
    const char *shape;
    if (h && fread(h, 1, hl, f) == hl && strstr(h, "'<f4'") && strstr(h, "False") &&
        (shape = strstr(h, "'shape': (")) && sscanf(shape, "'shape': (%lld, %lld)", &r, &c) == 2) {
      data = malloc((size_t)(r * c) * sizeof *data);
      if (data && fread(data, sizeof *data, (size_t)(r * c), f) != (size_t)(r * c)) {
        free(data);
        data = NULL;
      }
      *rows = r;
      *cols = c;
    }
    free(h);
  }
  fclose(f);
  return data;
}

/* The lines of a file (an empty line an empty text); count in *n. */
static char **read_lines(const char *path, int64_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  const long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *all = kt_alloc((size_t)size + 1);
  const size_t got = fread(all, 1, (size_t)size, f);
  fclose(f);
  all[got] = '\0';
  int64_t count = 0;
  for (size_t i = 0; i < got; i++)
    count += all[i] == '\n';
  if (got && all[got - 1] != '\n')
    count++;
  char **lines = kt_alloc((size_t)(count + 1) * sizeof *lines);
  int64_t k = 0;
  for (char *p = all; k < count; k++) {
    lines[k] = p;
    char *nl = strchr(p, '\n');
    if (!nl)
      break;
    *nl = '\0';
    p = nl + 1;
  }
  *n = count;
  return lines;
}

static void test_minilm(kt_env *env) {
  const char *dir = minilm_dir();
  char path[1200];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  struct stat sb;
  if (stat(path, &sb) != 0) {
    printf("[  NOTE    ] %s: no all-MiniLM-L6-v2 in %s (scripts/fetch_model.sh fetches it)\n",
           env->name, dir);
    skip();
  }
  int64_t rows = 0, cols = 0, n = 0;
  float *ref = read_npy(KILN_TEST_DATA_DIR "/minilm_ref.npy", &rows, &cols);
  char **texts = read_lines(KILN_TEST_DATA_DIR "/embed_texts.txt", &n);
  if (!ref || !texts || rows != n || cols != 384) {
    free(ref);
    KT_FAIL(env, "tests/data: cannot read minilm_ref.npy [%lld, %lld] for %lld texts",
            (long long)rows, (long long)cols, (long long)n);
  }
  /* Quick (valgrind) runs take the first two texts: the real model's
   * forward over 24 texts in three dtypes ran past 20 minutes there. */
  int64_t use = kt_quick() ? 2 : n;
  float *out = kt_alloc((size_t)(use * 384) * sizeof *out);
  kiln_embedder *e = NULL;
  kiln_status s = kiln_embedder_load(env->ctx, dir, env->dtype, &e);
  if (s == KILN_OK)
    s = kiln_embedder_encode(e, (const char *const *)texts, NULL, use, out);
  kiln_embedder_destroy(e);
  if (s != KILN_OK)
    free(ref);
  KT_OK(env, s);
  const double want = env->dtype == KILN_F32 ? 0.9999 : 0.999;
  double worst = 2.0;
  int64_t worst_i = -1;
  for (int64_t i = 0; i < use; i++) {
    double dot = 0, na = 0, nb = 0;
    for (int j = 0; j < 384; j++) {
      dot += (double)out[i * 384 + j] * ref[i * 384 + j];
      na += (double)out[i * 384 + j] * out[i * 384 + j];
      nb += (double)ref[i * 384 + j] * ref[i * 384 + j];
    }
    const double cosine = dot / sqrt(na * nb);
    if (!(cosine >= worst) || worst_i < 0) {
      if (!(cosine >= worst))
        worst = cosine;
      worst_i = i;
    }
    if (!(fabs(na - 1.0) < 1e-2)) {
      free(ref);
      KT_FAIL(env, "text %lld: |embedding|^2 = %g, not 1", (long long)i, na);
    }
  }
  free(ref);
  if (kt_verbose() || !(worst >= want))
    printf("[  INFO    ] %s: lowest cosine %.7f (text %lld: \"%.60s\")\n", env->name, worst,
           (long long)worst_i, texts[worst_i]);
  if (!(worst >= want))
    KT_FAIL(env, "cosine %.7f < %.4f to the reference for text %lld", worst, want,
            (long long)worst_i);
}

int main(int argc, char **argv) {
  /* --write-model DIR: only write the tiny model there (for embed_cli.sh). */
  if (argc == 3 && strcmp(argv[1], "--write-model") == 0) {
    if (!tb_write(&model, &tiny, NULL, 20261130))
      return 1;
    const bool moved = rename(model.dir, argv[2]) == 0;
    if (!moved)
      tb_free(&model);
    return moved ? 0 : 1;
  }
  if (!tb_write(&model, &tiny, NULL, 20261130)) {
    tb_free(&model);
    return 1;
  }
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
    const char *dn = kiln_dtype_name(dtypes[d]);
    for (size_t i = 0; i < sizeof ids_cases / sizeof ids_cases[0]; i++)
      kt_add(test_ids, &ids_cases[i], dtypes[d], "embed_tiny_%s_%s", dn, ids_cases[i].name);
    kt_add(test_repeat, NULL, dtypes[d], "embed_tiny_%s_repeat", dn);
    kt_add(test_texts, NULL, dtypes[d], "embed_tiny_%s_texts", dn);
    kt_add(test_prefix_f16, NULL, dtypes[d], "embed_tiny_%s_prefix_f16_file", dn);
    kt_add(test_minilm, NULL, dtypes[d], "embed_minilm_%s_reference", dn);
  }
  for (size_t i = 0; i < sizeof load_errors / sizeof load_errors[0]; i++)
    kt_add(test_load_error, &load_errors[i], KILN_F32, "embed_load_error_%s", load_errors[i].name);
  kt_add(test_load_missing, NULL, KILN_F32, "embed_load_error_arguments");
  kt_add(test_encode_errors, NULL, KILN_F32, "embed_encode_errors");
  const int failed = kt_run("embed");
  tb_free(&model);
  return failed;
}
