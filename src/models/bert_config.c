/* config.json of a BERT-family model: the sizes the weights must have. */
#include "bert.h"

#include "kiln.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Real configs are a few hundred bytes; anything huge is not one. */
#define CONFIG_MAX_BYTES (1 << 20)

/* The whole of a small file, NUL-terminated, into *text. */
static kiln_status read_small_file(const char *path, const char *fn, char **text, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: cannot open %s: %s", fn, path,
                     strerror(errno));
  char *buf = malloc(CONFIG_MAX_BYTES + 1);
  if (!buf) {
    fclose(f);
    return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory reading %s", fn, path);
  }
  const size_t n = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
  const int err = ferror(f);
  fclose(f);
  if (err || n > CONFIG_MAX_BYTES) {
    free(buf);
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: %s", fn, path,
                     err ? "read error" : "larger than 1 MiB; not a model config");
  }
  buf[n] = '\0';
  *text = buf;
  *len = n;
  return KILN_OK;
}

/* A positive integer field (at most max). */
static kiln_status get_int(const cJSON *root, const char *key, int64_t max, const char *fn,
                           const char *path, int64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
  if (!v)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: no \"%s\"", fn, path, key);
  const double d = cJSON_IsNumber(v) ? v->valuedouble : -1.0;
  if (!(d >= 1.0 && d <= (double)max) || d != floor(d))
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                     "%s: %s: \"%s\" must be an integer from 1 to %lld", fn, path, key,
                     (long long)max);
  *out = (int64_t)d;
  return KILN_OK;
}

static kiln_status parse(const cJSON *root, const char *fn, const char *path,
                         kiln_bert_config *c) {
  if (!cJSON_IsObject(root))
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s is not a JSON object", fn, path);
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
  if (type && cJSON_IsString(type) && strcmp(type->valuestring, "bert") != 0)
    return kiln_set_error(KILN_ERR_UNSUPPORTED, "%s: %s: model_type \"%.40s\"; only \"bert\" loads",
                     fn, path, type->valuestring);
  /* Bounds far above any BERT, low enough that sizes never overflow. */
  kiln_status s;
  if ((s = get_int(root, "hidden_size", 1 << 16, fn, path, &c->hidden)) ||
      (s = get_int(root, "num_hidden_layers", 1024, fn, path, &c->layers)) ||
      (s = get_int(root, "num_attention_heads", 1024, fn, path, &c->heads)) ||
      (s = get_int(root, "intermediate_size", 1 << 18, fn, path, &c->intermediate)) ||
      (s = get_int(root, "vocab_size", 1 << 24, fn, path, &c->vocab)) ||
      (s = get_int(root, "max_position_embeddings", 1 << 20, fn, path, &c->max_positions)))
    return s;
  /* Optional fields, with BertConfig's defaults. */
  c->type_vocab = 2;
  if (cJSON_GetObjectItemCaseSensitive(root, "type_vocab_size") &&
      (s = get_int(root, "type_vocab_size", 1 << 16, fn, path, &c->type_vocab)))
    return s;
  c->eps = 1e-12f;
  const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
  if (eps) {
    if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0.0 && eps->valuedouble < 1.0))
      return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: \"layer_norm_eps\" must be in (0, 1)",
                       fn, path);
    c->eps = (float)eps->valuedouble;
  }
  c->gelu_tanh = false;
  const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
  if (act) {
    const char *a = cJSON_IsString(act) ? act->valuestring : "";
    if (strcmp(a, "gelu_new") == 0 || strcmp(a, "gelu_pytorch_tanh") == 0)
      c->gelu_tanh = true;
    else if (strcmp(a, "gelu") != 0)
      return kiln_set_error(KILN_ERR_UNSUPPORTED,
                       "%s: %s: hidden_act \"%.40s\"; kiln runs gelu (erf), gelu_new and "
                       "gelu_pytorch_tanh",
                       fn, path, a);
  }
  const cJSON *pos = cJSON_GetObjectItemCaseSensitive(root, "position_embedding_type");
  if (pos && !(cJSON_IsString(pos) && strcmp(pos->valuestring, "absolute") == 0))
    return kiln_set_error(KILN_ERR_UNSUPPORTED,
                     "%s: %s: position_embedding_type must be \"absolute\"", fn, path);
  if (c->hidden % c->heads != 0)
    return kiln_set_error(KILN_ERR_SHAPE,
                     "%s: %s: hidden_size %lld is not a multiple of num_attention_heads %lld", fn,
                     path, (long long)c->hidden, (long long)c->heads);
  if (c->hidden / c->heads > 256)
    return kiln_set_error(KILN_ERR_UNSUPPORTED, "%s: %s: head size %lld (kiln_attention takes <= 256)",
                     fn, path, (long long)(c->hidden / c->heads));
  return KILN_OK;
}

kiln_status kiln_bert_config_load(const char *model_dir, const char *fn, kiln_bert_config *cfg) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/config.json", model_dir) >= (int)sizeof path)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: model_dir is too long", fn);
  size_t len = 0;
  char *text = NULL;
  kiln_status rs = read_small_file(path, fn, &text, &len);
  if (rs != KILN_OK)
    return rs;
  cJSON *root = cJSON_ParseWithLength(text, len);
  free(text);
  if (!root)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s is not valid JSON", fn, path);
  kiln_bert_config c = {0};
  const kiln_status s = parse(root, fn, path, &c);
  cJSON_Delete(root);
  if (s == KILN_OK)
    *cfg = c;
  return s;
}

kiln_status kiln_bert_refail(kiln_status s, const char *fn, const char *what_fmt, ...) {
  /* kiln_set_error writes the buffer kiln_last_error() reads: copy it first. */
  char inner[512], what[128] = "";
  snprintf(inner, sizeof inner, "%s", kiln_last_error());
  if (what_fmt) {
    va_list args;
    va_start(args, what_fmt);
    vsnprintf(what, sizeof what, what_fmt, args);
    va_end(args);
  }
  return kiln_set_error(s, "%s: %s%s%s", fn, what, what[0] ? ": " : "", inner);
}
