/* The tiny random BERT of tiny_bert.h: writer, damage, float64 forward. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, strdup */
#include "tiny_bert.h"

#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const tb_vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "d", "e", "f", "g", "h", "i",
    "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "the",
    "cat", "sat", "on", "mat", "dog", "dogs", "run", "##s", "##ing", "##ed", "##ly", "hello",
    "world", "kiln", "fire", "clay", ".", ",", "!", "?", "'", "-", "(", ")", "0", "1", "2", "3"};
const int tb_vocab_size = (int)(sizeof tb_vocab / sizeof tb_vocab[0]);

static uint64_t next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double uniform(uint64_t *s, double lo, double hi) {
  return lo + (hi - lo) * (double)(next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* One weight: its name (without prefix), shape and how it is drawn. */
typedef struct spec {
  char name[96];
  int ndim;
  int64_t shape[2];
  double lo, hi;
  bool is_ids; /* embeddings.position_ids: I64, not a weight */
} spec;

static int make_specs(const tb_config *c, int vocab, spec *out) {
  int n = 0;
  const int64_t H = c->hidden, I = c->ffn;
  const double wl = 1.5 / sqrt((double)H), wi = 1.5 / sqrt((double)I);
#define ADD(nm, nd, d0, d1, l, h)                                                                 \
  do {                                                                                            \
    spec *s_ = &out[n++];                                                                         \
    snprintf(s_->name, sizeof s_->name, "%s", nm);                                                \
    s_->ndim = nd;                                                                                \
    s_->shape[0] = d0;                                                                            \
    s_->shape[1] = d1;                                                                            \
    s_->lo = l;                                                                                   \
    s_->hi = h;                                                                                   \
    s_->is_ids = false;                                                                           \
  } while (0)
  ADD("embeddings.position_ids", 2, 1, c->max_pos, 0, 0);
  out[n - 1].is_ids = true;
  ADD("embeddings.word_embeddings.weight", 2, vocab, H, -1.0, 1.0);
  ADD("embeddings.position_embeddings.weight", 2, c->max_pos, H, -0.5, 0.5);
  ADD("embeddings.token_type_embeddings.weight", 2, c->type_vocab, H, -0.5, 0.5);
  ADD("embeddings.LayerNorm.weight", 1, H, 0, 0.7, 1.3);
  ADD("embeddings.LayerNorm.bias", 1, H, 0, -0.2, 0.2);
  char nm[96];
  for (int l = 0; l < c->layers; l++) {
#define L(suffix) (snprintf(nm, sizeof nm, "encoder.layer.%d.%s", l, suffix), nm)
    ADD(L("attention.self.query.weight"), 2, H, H, -wl, wl);
    ADD(L("attention.self.query.bias"), 1, H, 0, -0.1, 0.1);
    ADD(L("attention.self.key.weight"), 2, H, H, -wl, wl);
    ADD(L("attention.self.key.bias"), 1, H, 0, -0.1, 0.1);
    ADD(L("attention.self.value.weight"), 2, H, H, -wl, wl);
    ADD(L("attention.self.value.bias"), 1, H, 0, -0.1, 0.1);
    ADD(L("attention.output.dense.weight"), 2, H, H, -wl, wl);
    ADD(L("attention.output.dense.bias"), 1, H, 0, -0.1, 0.1);
    ADD(L("attention.output.LayerNorm.weight"), 1, H, 0, 0.7, 1.3);
    ADD(L("attention.output.LayerNorm.bias"), 1, H, 0, -0.2, 0.2);
    ADD(L("intermediate.dense.weight"), 2, I, H, -wl, wl);
    ADD(L("intermediate.dense.bias"), 1, I, 0, -0.1, 0.1);
    ADD(L("output.dense.weight"), 2, H, I, -wi, wi);
    ADD(L("output.dense.bias"), 1, H, 0, -0.1, 0.1);
    ADD(L("output.LayerNorm.weight"), 1, H, 0, 0.7, 1.3);
    ADD(L("output.LayerNorm.bias"), 1, H, 0, -0.2, 0.2);
#undef L
  }
  /* Not used by an embedder; a loader must skip it. */
  ADD("pooler.dense.weight", 2, H, H, -wl, wl);
#undef ADD
  return n;
}

static bool write_text(const char *dir, const char *file, const char *text, size_t len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "wb");
  if (!f)
    return false;
  const bool ok = fwrite(text, 1, len, f) == len;
  return fclose(f) == 0 && ok;
}

static bool write_config(const tb_model *m, const tb_options *o) {
  char text[1024];
  const tb_config *c = &m->cfg;
  int n = o->config_text
              ? snprintf(text, sizeof text, "%s", o->config_text)
              : snprintf(text, sizeof text,
                         "{\n  \"architectures\": [\"BertModel\"],\n  \"model_type\": \"bert\",\n"
                         "  \"hidden_act\": \"gelu\",\n  \"hidden_size\": %d,\n"
                         "  \"num_hidden_layers\": %d,\n  \"num_attention_heads\": %d,\n"
                         "  \"intermediate_size\": %d,\n  \"vocab_size\": %d,\n"
                         "  \"max_position_embeddings\": %d,\n  \"type_vocab_size\": %d,\n"
                         "  \"layer_norm_eps\": %.17g,\n  \"position_embedding_type\": "
                         "\"absolute\"\n}\n",
                         c->hidden, c->layers, c->heads, c->ffn, m->vocab, c->max_pos,
                         c->type_vocab, c->eps);
  return write_text(m->dir, "config.json", text, (size_t)n);
}

static bool write_vocab(const tb_model *m, const tb_options *o) {
  char path[512];
  snprintf(path, sizeof path, "%s/vocab.txt", m->dir);
  FILE *f = fopen(path, "wb");
  if (!f)
    return false;
  for (int i = 0; i < m->vocab; i++)
    fprintf(f, "%s\n", tb_vocab[i]);
  for (int i = 0; i < o->extra_vocab; i++)
    fprintf(f, "extra%d\n", i);
  return fclose(f) == 0;
}

static bool same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static bool write_weights(tb_model *m, const tb_options *o, uint64_t seed) {
  spec specs[256];
  const int ns = make_specs(&m->cfg, m->vocab, specs);
  m->names = calloc((size_t)ns, sizeof *m->names);
  m->values = calloc((size_t)ns, sizeof *m->values);
  size_t cap = 1 << 16, used = 0, hcap = 1 << 15, hlen = 0;
  unsigned char *data = malloc(cap);
  char *header = malloc(hcap);
  hlen += (size_t)snprintf(header, hcap, "{\"__metadata__\":{\"format\":\"pt\"}");
  uint64_t rng = seed;
  for (int i = 0; i < ns; i++) {
    spec *s = &specs[i];
    if (same(o->drop, s->name))
      continue;
    if (same(o->bad_shape, s->name))
      s->shape[s->ndim - 1] -= 1;
    const int64_t n = s->shape[0] * (s->ndim == 2 ? s->shape[1] : 1);
    const bool f16 = o->weights_f16 && !s->is_ids;
    const size_t es = s->is_ids ? 8 : f16 ? 2 : 4;
    while (used + (size_t)n * es > cap)
      data = realloc(data, cap *= 2);
    double *vals = malloc((size_t)n * sizeof *vals);
    for (int64_t k = 0; k < n; k++) {
      if (s->is_ids) {
        const int64_t id = k;
        memcpy(data + used + (size_t)k * 8, &id, 8);
        continue;
      }
      const float v = (float)uniform(&rng, s->lo, s->hi);
      if (f16) {
        uint16_t h;
        kiln_f32_to_f16(&v, &h, 1);
        memcpy(data + used + (size_t)k * 2, &h, 2);
        vals[k] = kt_f16_value(h);
      } else {
        memcpy(data + used + (size_t)k * 4, &v, 4);
        vals[k] = v;
      }
    }
    m->names[m->count] = strdup(s->name);
    m->values[m->count++] = vals;
    const char *dt = s->is_ids ? "I64" : same(o->i32_tensor, s->name) ? "I32" : f16 ? "F16" : "F32";
    size_t begin = used, end = used + (size_t)n * es;
    if (same(o->offset_tensor, s->name)) {
      begin += 1 << 20;
      end += 1 << 20;
    }
    char shape[64];
    if (s->ndim == 2)
      snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)s->shape[0], (long long)s->shape[1]);
    else
      snprintf(shape, sizeof shape, "[%lld]", (long long)s->shape[0]);
    while (hlen + 512 > hcap)
      header = realloc(header, hcap *= 2);
    hlen += (size_t)snprintf(header + hlen, hcap - hlen,
                             ",\"%s%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                             o->prefix ? o->prefix : "", s->name, dt, shape, begin, end);
    used += (size_t)n * es;
  }
  hlen += (size_t)snprintf(header + hlen, hcap - hlen, "}");
  if (o->header_text) {
    hlen = strlen(o->header_text);
    memcpy(header, o->header_text, hlen);
  }
  /* The format pads the header with spaces so the data starts aligned. */
  while (hlen % 8)
    header[hlen++] = ' ';
  char path[512];
  snprintf(path, sizeof path, "%s/model.safetensors", m->dir);
  FILE *f = fopen(path, "wb");
  bool ok = f != NULL;
  unsigned char len8[8];
  for (int i = 0; i < 8; i++)
    len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
  size_t total = 8 + hlen + used;
  if (o->truncate > 0)
    total = (size_t)o->truncate;
  else if (o->truncate < 0)
    total -= (size_t)(-o->truncate);
  unsigned char *all = malloc(8 + hlen + used);
  memcpy(all, len8, 8);
  memcpy(all + 8, header, hlen);
  memcpy(all + 8 + hlen, data, used);
  if (ok)
    ok = fwrite(all, 1, total, f) == total;
  if (f)
    ok = fclose(f) == 0 && ok;
  free(all);
  free(data);
  free(header);
  return ok;
}

bool tb_write(tb_model *m, const tb_config *cfg, const tb_options *opt, uint64_t seed) {
  static const tb_options none = {0};
  const tb_options *o = opt ? opt : &none;
  memset(m, 0, sizeof *m);
  m->cfg = *cfg;
  m->vocab = tb_vocab_size;
  const char *tmp = getenv("TMPDIR");
  snprintf(m->dir, sizeof m->dir, "%s/kiln-tiny-bert-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(m->dir)) {
    fprintf(stderr, "tiny_bert: cannot make a folder in %s\n", tmp ? tmp : "/tmp");
    m->dir[0] = '\0';
    return false;
  }
  return write_config(m, o) && write_vocab(m, o) && write_weights(m, o, seed);
}

void tb_free(tb_model *m) {
  if (m->dir[0]) {
    static const char *const files[] = {"config.json", "vocab.txt", "model.safetensors"};
    char path[512];
    for (int i = 0; i < 3; i++) {
      snprintf(path, sizeof path, "%s/%s", m->dir, files[i]);
      unlink(path);
    }
    rmdir(m->dir);
  }
  for (int i = 0; i < m->count; i++) {
    free(m->names[i]);
    free(m->values[i]);
  }
  free(m->names);
  free(m->values);
  memset(m, 0, sizeof *m);
}

static const double *get(const tb_model *m, const char *fmt, int layer) {
  char name[128];
  snprintf(name, sizeof name, fmt, layer);
  for (int i = 0; i < m->count; i++)
    if (strcmp(m->names[i], name) == 0)
      return m->values[i];
  fprintf(stderr, "tiny_bert: no weight %s\n", name);
  abort();
}

static void layer_norm(double *x, int H, const double *w, const double *b, double eps) {
  double mean = 0, var = 0;
  for (int i = 0; i < H; i++)
    mean += x[i];
  mean /= H;
  for (int i = 0; i < H; i++)
    var += (x[i] - mean) * (x[i] - mean);
  var /= H;
  const double r = 1.0 / sqrt(var + eps);
  for (int i = 0; i < H; i++)
    x[i] = (x[i] - mean) * r * w[i] + b[i];
}

/* y[T, n] = x[T, k] w^T + b, w [n, k] */
static void linear(const double *x, int T, int k, const double *w, const double *b, int n,
                   double *y) {
  for (int t = 0; t < T; t++)
    for (int j = 0; j < n; j++) {
      double acc = b[j];
      for (int i = 0; i < k; i++)
        acc += x[t * k + i] * w[j * k + i];
      y[t * n + j] = acc;
    }
}

void tb_reference(const tb_model *m, const int32_t *ids, int T, double *out) {
  const int H = m->cfg.hidden, nh = m->cfg.heads, d = H / nh, I = m->cfg.ffn;
  const double eps = m->cfg.eps;
  double *x = malloc(sizeof(double) * (size_t)(T * H)), *q = malloc(sizeof(double) * (size_t)(T * H)),
         *k = malloc(sizeof(double) * (size_t)(T * H)), *v = malloc(sizeof(double) * (size_t)(T * H)),
         *a = malloc(sizeof(double) * (size_t)(T * H)), *y = malloc(sizeof(double) * (size_t)(T * H)),
         *f = malloc(sizeof(double) * (size_t)(T * I)), *s = malloc(sizeof(double) * (size_t)T);
  const double *word = get(m, "embeddings.word_embeddings.weight", 0),
               *pos = get(m, "embeddings.position_embeddings.weight", 0),
               *type = get(m, "embeddings.token_type_embeddings.weight", 0);
  for (int t = 0; t < T; t++) {
    for (int i = 0; i < H; i++)
      x[t * H + i] = word[ids[t] * H + i] + pos[t * H + i] + type[i];
    layer_norm(x + t * H, H, get(m, "embeddings.LayerNorm.weight", 0),
               get(m, "embeddings.LayerNorm.bias", 0), eps);
  }
  for (int l = 0; l < m->cfg.layers; l++) {
    linear(x, T, H, get(m, "encoder.layer.%d.attention.self.query.weight", l),
           get(m, "encoder.layer.%d.attention.self.query.bias", l), H, q);
    linear(x, T, H, get(m, "encoder.layer.%d.attention.self.key.weight", l),
           get(m, "encoder.layer.%d.attention.self.key.bias", l), H, k);
    linear(x, T, H, get(m, "encoder.layer.%d.attention.self.value.weight", l),
           get(m, "encoder.layer.%d.attention.self.value.bias", l), H, v);
    for (int h = 0; h < nh; h++)
      for (int i = 0; i < T; i++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < T; j++) {
          double dot = 0;
          for (int c = 0; c < d; c++)
            dot += q[i * H + h * d + c] * k[j * H + h * d + c];
          s[j] = dot / sqrt((double)d);
          mx = s[j] > mx ? s[j] : mx;
        }
        for (int j = 0; j < T; j++)
          sum += s[j] = exp(s[j] - mx);
        for (int c = 0; c < d; c++) {
          double acc = 0;
          for (int j = 0; j < T; j++)
            acc += s[j] * v[j * H + h * d + c];
          a[i * H + h * d + c] = acc / sum;
        }
      }
    linear(a, T, H, get(m, "encoder.layer.%d.attention.output.dense.weight", l),
           get(m, "encoder.layer.%d.attention.output.dense.bias", l), H, y);
    for (int t = 0; t < T; t++) {
      for (int i = 0; i < H; i++)
        x[t * H + i] += y[t * H + i];
      layer_norm(x + t * H, H, get(m, "encoder.layer.%d.attention.output.LayerNorm.weight", l),
                 get(m, "encoder.layer.%d.attention.output.LayerNorm.bias", l), eps);
    }
    linear(x, T, H, get(m, "encoder.layer.%d.intermediate.dense.weight", l),
           get(m, "encoder.layer.%d.intermediate.dense.bias", l), I, f);
    for (int i = 0; i < T * I; i++)
      f[i] = 0.5 * f[i] * (1.0 + erf(f[i] / sqrt(2.0)));
    linear(f, T, I, get(m, "encoder.layer.%d.output.dense.weight", l),
           get(m, "encoder.layer.%d.output.dense.bias", l), H, y);
    for (int t = 0; t < T; t++) {
      for (int i = 0; i < H; i++)
        x[t * H + i] += y[t * H + i];
      layer_norm(x + t * H, H, get(m, "encoder.layer.%d.output.LayerNorm.weight", l),
                 get(m, "encoder.layer.%d.output.LayerNorm.bias", l), eps);
    }
  }
  double norm = 0;
  for (int i = 0; i < H; i++) {
    double acc = 0;
    for (int t = 0; t < T; t++)
      acc += x[t * H + i];
    out[i] = acc / T;
    norm += out[i] * out[i];
  }
  norm = sqrt(norm);
  for (int i = 0; i < H; i++)
    out[i] /= norm > 1e-12 ? norm : 1e-12;
  free(x);
  free(q);
  free(k);
  free(v);
  free(a);
  free(y);
  free(f);
  free(s);
}
