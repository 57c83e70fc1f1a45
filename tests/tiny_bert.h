/*
 * A tiny random BERT the tests write themselves (config.json, vocab.txt,
 * model.safetensors in a temporary folder), its float64 forward pass, and
 * the ways to damage it for the error tests.
 */
#ifndef KILN_TESTS_TINY_BERT_H
#define KILN_TESTS_TINY_BERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tb_config {
  int hidden, layers, heads, ffn, max_pos, type_vocab;
  double eps;
} tb_config;

/* How to write (or damage) the model folder. Zero: a good model. */
typedef struct tb_options {
  const char *prefix;        /* "bert." or NULL */
  bool weights_f16;          /* store weights as F16 (the reference decodes them) */
  const char *drop;          /* leave this tensor out */
  const char *bad_shape;     /* write this tensor with its last dim - 1 */
  const char *i32_tensor;    /* label this tensor I32 (same bytes and shape) */
  int extra_vocab;           /* vocab.txt lines beyond the table's rows */
  const char *header_text;   /* replace the JSON header with this */
  long truncate;             /* > 0: cut model.safetensors to this many bytes; < 0: by this many */
  const char *offset_tensor; /* push this tensor's data_offsets past the end */
  const char *config_text;   /* replace config.json with this */
} tb_options;

typedef struct tb_model {
  tb_config cfg;
  int vocab;
  char dir[256];
  /* Every weight as the file holds it, decoded to double, by name. */
  int count;
  char **names;
  double **values;
} tb_model;

/* The vocabulary: special tokens, letters, a few words and pieces. */
extern const char *const tb_vocab[];
extern const int tb_vocab_size;

/* Writes a model with random weights (seeded) into a new temporary folder.
 * Returns false (with a message on stderr) when the folder cannot be made. */
bool tb_write(tb_model *m, const tb_config *cfg, const tb_options *opt, uint64_t seed);
/* Removes the folder and frees the weights. */
void tb_free(tb_model *m);

/* The embedding of one sequence of ids, in float64: BertModel's forward
 * (token type 0), mean over the tokens, L2 normalization. out: hidden. */
void tb_reference(const tb_model *m, const int32_t *ids, int len, double *out);

#endif /* KILN_TESTS_TINY_BERT_H */
