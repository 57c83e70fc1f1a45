/* The WordPiece tokenizer's parts, shared by its files in src/models/:
 * the vocabulary trie (tokenizer_vocab.c), loading (tokenizer_load.c), the
 * text pass that cleans, normalizes and splits into words
 * (tokenizer_text.c) and WordPiece with truncation (tokenizer_encode.c). */
#ifndef KILN_TOKENIZER_INTERNAL_H
#define KILN_TOKENIZER_INTERNAL_H

#include "kiln.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hugging Face's WordPiece default: a longer word is one [UNK]. */
#define KILN_WP_MAX_WORD_CHARS 100
/* A word's bytes are kept while it can still be short enough; a normalized
 * character is at most 4 bytes, and one source character can become up to
 * 4 characters under NFD, so this never truncates a word of <= 100 chars. */
#define KILN_WP_WORD_BYTES (4 * (KILN_WP_MAX_WORD_CHARS + 8))
#define KILN_WP_MAX_SPECIAL 8

/* A byte trie over the vocabulary. Node 0 is the root of word-initial
 * pieces, node 1 the root of continuation pieces (vocabulary entries
 * "##x", stored as "x"). Edges live in one open-addressing hash table, each
 * slot one 64-bit word (key (node << 8 | byte) + 1 above, child below) so
 * that a step costs one memory access; the two roots' edges also in direct
 * 256-entry arrays, since every piece starts there. Nodes stay below 2^24. */
typedef struct kiln_wp_trie {
  int32_t *node_id;   /* [n_nodes]: the token id ending here, or -1 */
  int64_t n_nodes, cap_nodes;
  uint64_t *edge;     /* [edge_cap]: key << 32 | child; 0 = empty */
  uint64_t edge_cap, n_edges; /* edge_cap a power of two */
  int32_t root_child[2][256];
} kiln_wp_trie;

#define KILN_WP_MAX_NODES ((1 << 24) - 1)

static inline uint64_t kiln_wp_edge_hash(uint32_t key) {
  return ((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 24;
}

typedef struct kiln_wp_special {
  char text[64];
  size_t len;
  int32_t id;
} kiln_wp_special;

struct kiln_tokenizer {
  kiln_wp_trie trie;
  char *vocab_blob;      /* vocab.txt, each line NUL-terminated in place */
  const char **tokens;   /* [vocab_size] into vocab_blob */
  int64_t vocab_size;
  int64_t max_length;
  int32_t cls_id, sep_id, unk_id;
  bool lowercase, strip_accents, chinese_chars;
  kiln_wp_special special[KILN_WP_MAX_SPECIAL];
  int n_special;
  bool special_first[256]; /* first bytes of the special tokens */
};

/* ---- vocabulary trie (tokenizer_vocab.c) */
kiln_status kiln_wp_trie_init(kiln_wp_trie *t, int64_t expected_bytes);
void kiln_wp_trie_free(kiln_wp_trie *t);
/* Adds token (len bytes) with id under root (0 or 1); a later add of the
 * same text replaces the id, as a Python dict built from the file would. */
kiln_status kiln_wp_trie_add(kiln_wp_trie *t, int root, const char *token, size_t len,
                             int32_t id);
/* The child of node along byte, or -1. */
static inline int32_t kiln_wp_trie_step(const kiln_wp_trie *t, int32_t node, unsigned char byte) {
  if (node < 2) return t->root_child[node][byte];
  uint32_t key = (((uint32_t)node << 8) | byte) + 1;
  uint64_t mask = t->edge_cap - 1;
  for (uint64_t i = kiln_wp_edge_hash(key) & mask;; i = (i + 1) & mask) {
    uint64_t e = t->edge[i];
    if ((uint32_t)(e >> 32) == key) return (int32_t)(uint32_t)e;
    if (e == 0) return -1;
  }
}
/* The id of the exact text under root, or -1. */
int32_t kiln_wp_trie_find(const kiln_wp_trie *t, int root, const char *text, size_t len);

/* ---- the text pass (tokenizer_text.c) */

/* What the text pass hands on: words (normalized UTF-8, n_chars code points;
 * overlong when it passed KILN_WP_MAX_WORD_CHARS, its bytes then not kept)
 * and special tokens met in the text. Each returns true to stop the pass. */
typedef struct kiln_wp_out kiln_wp_out;
bool kiln_wp_word(kiln_wp_out *out, const unsigned char *word, size_t n_bytes, bool overlong);
bool kiln_wp_special_token(kiln_wp_out *out, int32_t id);

/* Cleans, normalizes and splits text into words, in one pass. */
void kiln_wp_scan(const kiln_tokenizer *tok, const unsigned char *text, size_t len,
                  kiln_wp_out *out);

#endif
