/* kiln_tokenizer_load: vocab.txt into the trie, the settings from
 * tokenizer_config.json, sentence_bert_config.json and config.json. */
#include "tokenizer_internal.h"
#include "tokenizer_unicode.h"

#include "kiln.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *FN = "kiln_tokenizer_load";

/* Far more than any BERT vocabulary or tokenizer config. */
#define MAX_FILE_BYTES (64ll << 20)

/* Reads dir/name whole, NUL-terminated. A missing file is *data = NULL and
 * KILN_OK when optional. */
static kiln_status read_file(const char *dir, const char *name, bool optional, char **data,
                             size_t *size) {
  *data = NULL;
  *size = 0;
  size_t n = strlen(dir) + strlen(name) + 2;
  char *path = malloc(n);
  if (!path) return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", FN);
  snprintf(path, n, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    int err = errno;
    kiln_status st = KILN_OK;
    if (!optional || err != ENOENT)
      st = kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: cannot open %s: %s", FN, path, strerror(err));
    free(path);
    return st;
  }
  kiln_status st = KILN_OK;
  char *buf = NULL;
  long len = -1;
  if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
  if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
    st = kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: cannot read %s (not a regular file?)", FN, path);
  } else if (len > MAX_FILE_BYTES) {
    st = kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s is %ld bytes, more than the %lld allowed", FN,
                   path, len, MAX_FILE_BYTES);
  } else if (!(buf = malloc((size_t)len + 1))) {
    st = kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory reading %s (%ld bytes)", FN, path, len);
  } else if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
    st = kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: cannot read %s: %s", FN, path, strerror(errno));
  }
  fclose(f);
  if (st != KILN_OK) {
    free(buf);
  } else {
    buf[len] = '\0';
    *data = buf;
    *size = (size_t)len;
  }
  free(path);
  return st;
}

/* Parses dir/name when it exists; *json NULL when it does not. */
static kiln_status read_json(const char *dir, const char *name, cJSON **json) {
  *json = NULL;
  char *text;
  size_t size;
  kiln_status st = read_file(dir, name, true, &text, &size);
  if (st != KILN_OK || !text) return st;
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(text, size, &end, 0);
  if (!j || !cJSON_IsObject(j)) {
    long at = end ? (long)(end - text) : 0;
    cJSON_Delete(j);
    free(text);
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s/%s is not a JSON object (error near byte %ld)",
                     FN, dir, name, at);
  }
  free(text);
  *json = j;
  return KILN_OK;
}

/* A boolean setting: absent or null leaves *value alone (returns 0); a
 * value of another type is an error. */
static kiln_status get_bool(const cJSON *j, const char *file, const char *key, bool *value,
                            bool *present) {
  const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
  if (present) *present = false;
  if (!v || cJSON_IsNull(v)) return KILN_OK;
  if (!cJSON_IsBool(v))
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: \"%s\" must be true, false or null", FN,
                     file, key);
  *value = cJSON_IsTrue(v);
  if (present) *present = true;
  return KILN_OK;
}

/* A positive integer setting; *value 0 when absent or null. */
static kiln_status get_length(const cJSON *j, const char *file, const char *key, double *value) {
  const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
  *value = 0;
  if (!v || cJSON_IsNull(v)) return KILN_OK;
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1))
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: \"%s\" must be a positive number", FN, file,
                     key);
  *value = v->valuedouble;
  return KILN_OK;
}

/* A special token's text: a string, or {"content": string} as newer
 * configs write it; the default when absent. */
static kiln_status get_token(const cJSON *j, const char *key, const char *fallback, char *out,
                             size_t cap) {
  const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
  if (v && cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
  const char *text = fallback;
  if (v && !cJSON_IsNull(v)) {
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= cap)
      return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                       "%s: tokenizer_config.json: \"%s\" must be a non-empty string shorter than "
                       "%zu bytes",
                       FN, key, cap);
    text = v->valuestring;
  }
  snprintf(out, cap, "%s", text);
  return KILN_OK;
}

/* Each line of vocab.txt is a token, its id the line number ("\r\n" lines
 * too). Lines are cut in place so tokens[] can point into the file. */
static kiln_status load_vocab(kiln_tokenizer *tok, const char *dir) {
  size_t size;
  kiln_status st = read_file(dir, "vocab.txt", false, &tok->vocab_blob, &size);
  if (st != KILN_OK) return st;
  char *blob = tok->vocab_blob;
  int64_t lines = 0;
  for (size_t i = 0; i < size; i++) lines += blob[i] == '\n';
  if (size > 0 && blob[size - 1] != '\n') lines++;
  if (lines == 0)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s/vocab.txt is empty", FN, dir);
  if (lines > INT32_MAX)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s/vocab.txt has %lld lines, too many", FN, dir,
                     (long long)lines);
  tok->tokens = malloc((size_t)lines * sizeof *tok->tokens);
  if (!tok->tokens) return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", FN);
  if (kiln_wp_trie_init(&tok->trie, (int64_t)size) != KILN_OK)
    return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: %s/vocab.txt: out of memory (or over 16M trie nodes)", FN, dir);
  int64_t id = 0;
  char *p = blob, *end = blob + size;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *stop = nl ? nl : end;
    size_t len = (size_t)(stop - p);
    if (len > 0 && p[len - 1] == '\r') len--;
    p[len] = '\0';
    tok->tokens[id] = p;
    if (len > 0) {
      /* "##x" continues a word; it is also a word start, as in the file. */
      st = kiln_wp_trie_add(&tok->trie, 0, p, len, (int32_t)id);
      if (st == KILN_OK && len > 2 && p[0] == '#' && p[1] == '#')
        st = kiln_wp_trie_add(&tok->trie, 1, p + 2, len - 2, (int32_t)id);
      if (st != KILN_OK)
        return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: %s/vocab.txt: out of memory (or over 16M trie nodes)", FN, dir);
    }
    id++;
    p = stop + 1;
  }
  tok->vocab_size = id;
  return KILN_OK;
}

/* The special tokens: their ids, and the texts split off from the input. */
static kiln_status load_special(kiln_tokenizer *tok, const char *dir, const cJSON *cfg) {
  static const struct {
    const char *key, *fallback;
  } names[] = {{"unk_token", "[UNK]"}, {"sep_token", "[SEP]"}, {"pad_token", "[PAD]"},
               {"cls_token", "[CLS]"}, {"mask_token", "[MASK]"}};
  int n = 0;
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    kiln_wp_special *sp = &tok->special[n];
    kiln_status st = get_token(cfg, names[k].key, names[k].fallback, sp->text, sizeof sp->text);
    if (st != KILN_OK) return st;
    sp->len = strlen(sp->text);
    sp->id = kiln_wp_trie_find(&tok->trie, 0, sp->text, sp->len);
    bool required = k == 0 || k == 1 || k == 3; /* [UNK], [SEP], [CLS] */
    if (sp->id < 0) {
      if (required)
        return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s/vocab.txt has no %s token \"%s\"", FN,
                         dir, names[k].key, sp->text);
      continue; /* an absent optional token is not special */
    }
    if (k == 0) tok->unk_id = sp->id;
    if (k == 1) tok->sep_id = sp->id;
    if (k == 3) tok->cls_id = sp->id;
    tok->special_first[(unsigned char)sp->text[0]] = true;
    n++;
  }
  tok->n_special = n;
  return KILN_OK;
}

static kiln_status load_settings(kiln_tokenizer *tok, const char *dir) {
  cJSON *cfg = NULL, *sbert = NULL, *model = NULL;
  kiln_status st = read_json(dir, "tokenizer_config.json", &cfg);
  if (st == KILN_OK) st = read_json(dir, "sentence_bert_config.json", &sbert);
  if (st == KILN_OK) st = read_json(dir, "config.json", &model);

  /* Hugging Face's defaults: lowercase; accents stripped when lowercasing
   * unless strip_accents says otherwise; CJK spaced. */
  bool lower = true, strip = false, strip_set = false, cjk = true, sbert_lower = false;
  if (st == KILN_OK) st = get_bool(cfg, "tokenizer_config.json", "do_lower_case", &lower, NULL);
  if (st == KILN_OK)
    st = get_bool(cfg, "tokenizer_config.json", "strip_accents", &strip, &strip_set);
  if (st == KILN_OK)
    st = get_bool(cfg, "tokenizer_config.json", "tokenize_chinese_chars", &cjk, NULL);
  /* sentence-transformers lowercases the text itself when its own
   * do_lower_case is set. */
  if (st == KILN_OK)
    st = get_bool(sbert, "sentence_bert_config.json", "do_lower_case", &sbert_lower, NULL);
  tok->lowercase = lower || sbert_lower;
  tok->strip_accents = strip_set ? strip : lower;
  tok->chinese_chars = cjk;

  /* The length sentence-transformers uses, else the tokenizer's; never more
   * than the model has positions for; 512 when no file says. */
  double seq = 0, model_max = 0, positions = 0;
  if (st == KILN_OK) st = get_length(sbert, "sentence_bert_config.json", "max_seq_length", &seq);
  if (st == KILN_OK) st = get_length(cfg, "tokenizer_config.json", "model_max_length", &model_max);
  if (st == KILN_OK) st = get_length(model, "config.json", "max_position_embeddings", &positions);
  double cap = positions > 0 ? positions : 512;
  double len = seq > 0 ? seq : model_max > 0 ? model_max : cap;
  if (len > cap) len = cap;
  tok->max_length = len < 2 ? 2 : (int64_t)len;

  if (st == KILN_OK) st = load_special(tok, dir, cfg);
  cJSON_Delete(cfg);
  cJSON_Delete(sbert);
  cJSON_Delete(model);
  return st;
}

kiln_status kiln_tokenizer_load(const char *model_dir, kiln_tokenizer **out) {
  if (!out) return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: out is NULL", FN);
  *out = NULL;
  if (!model_dir) return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: model_dir is NULL", FN);
  struct stat sb;
  if (stat(model_dir, &sb) != 0)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: model_dir %s: %s", FN, model_dir,
                     strerror(errno));
  if (!S_ISDIR(sb.st_mode))
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: model_dir %s is not a folder", FN, model_dir);
  kiln_tokenizer *tok = calloc(1, sizeof *tok);
  if (!tok) return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", FN);
  kiln_wp_unicode_init(); /* once per process, about 64k lookups */
  kiln_status st = load_vocab(tok, model_dir);
  if (st == KILN_OK) st = load_settings(tok, model_dir);
  if (st != KILN_OK) {
    kiln_tokenizer_destroy(tok);
    return st;
  }
  *out = tok;
  return KILN_OK;
}

void kiln_tokenizer_destroy(kiln_tokenizer *tok) {
  if (!tok) return;
  kiln_wp_trie_free(&tok->trie);
  free(tok->tokens);
  free(tok->vocab_blob);
  free(tok);
}

int64_t kiln_tokenizer_vocab_size(const kiln_tokenizer *tok) { return tok ? tok->vocab_size : 0; }

int64_t kiln_tokenizer_max_length(const kiln_tokenizer *tok) { return tok ? tok->max_length : 0; }

int32_t kiln_tokenizer_token_id(const kiln_tokenizer *tok, const char *token) {
  if (!tok || !token) return -1;
  return kiln_wp_trie_find(&tok->trie, 0, token, strlen(token));
}

const char *kiln_tokenizer_token(const kiln_tokenizer *tok, int32_t id) {
  if (!tok || id < 0 || id >= tok->vocab_size) return NULL;
  return tok->tokens[id];
}
