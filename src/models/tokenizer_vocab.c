/* The vocabulary as a byte trie, so that WordPiece's longest match from a
 * position is one walk down the trie (a step per byte) instead of a hash of
 * every candidate substring. */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

static uint64_t edge_slot(const kiln_wp_trie *t, uint64_t key) {
  uint64_t mask = t->edge_cap - 1;
  uint64_t i = ((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
  while (t->edge_key[i] != 0 && t->edge_key[i] != key) i = (i + 1) & mask;
  return i;
}

static bool edges_alloc(kiln_wp_trie *t, uint64_t cap) {
  t->edge_key = calloc(cap, sizeof *t->edge_key);
  t->edge_child = malloc(cap * sizeof *t->edge_child);
  t->edge_cap = cap;
  return t->edge_key && t->edge_child;
}

/* Doubles the edge table (kept at most half full, so probes stay short). */
static bool edges_grow(kiln_wp_trie *t) {
  uint64_t *old_key = t->edge_key;
  int32_t *old_child = t->edge_child;
  uint64_t old_cap = t->edge_cap;
  if (!edges_alloc(t, old_cap * 2)) {
    free(t->edge_key);
    free(t->edge_child);
    t->edge_key = old_key;
    t->edge_child = old_child;
    t->edge_cap = old_cap;
    return false;
  }
  for (uint64_t i = 0; i < old_cap; i++) {
    if (old_key[i] == 0) continue;
    uint64_t j = edge_slot(t, old_key[i]);
    t->edge_key[j] = old_key[i];
    t->edge_child[j] = old_child[i];
  }
  free(old_key);
  free(old_child);
  return true;
}

static int32_t new_node(kiln_wp_trie *t) {
  if (t->n_nodes == t->cap_nodes) {
    int64_t cap = t->cap_nodes * 2;
    int32_t *ids = realloc(t->node_id, (size_t)cap * sizeof *ids);
    if (!ids) return -1;
    t->node_id = ids;
    t->cap_nodes = cap;
  }
  t->node_id[t->n_nodes] = -1;
  return (int32_t)t->n_nodes++;
}

kiln_status kiln_wp_trie_init(kiln_wp_trie *t, int64_t expected_bytes) {
  memset(t, 0, sizeof *t);
  memset(t->root_child, 0xff, sizeof t->root_child); /* all -1 */
  t->cap_nodes = expected_bytes > 64 ? expected_bytes : 64;
  t->node_id = malloc((size_t)t->cap_nodes * sizeof *t->node_id);
  uint64_t cap = 1024;
  while (cap < (uint64_t)t->cap_nodes * 2) cap *= 2;
  if (!t->node_id || !edges_alloc(t, cap)) {
    kiln_wp_trie_free(t);
    return KILN_ERR_OUT_OF_MEMORY;
  }
  t->node_id[0] = t->node_id[1] = -1;
  t->n_nodes = 2;
  return KILN_OK;
}

void kiln_wp_trie_free(kiln_wp_trie *t) {
  free(t->node_id);
  free(t->edge_key);
  free(t->edge_child);
  memset(t, 0, sizeof *t);
}

kiln_status kiln_wp_trie_add(kiln_wp_trie *t, int root, const char *token, size_t len,
                             int32_t id) {
  int32_t node = root;
  for (size_t i = 0; i < len; i++) {
    unsigned char b = (unsigned char)token[i];
    int32_t child = kiln_wp_trie_step(t, node, b);
    if (child < 0) {
      child = new_node(t);
      if (child < 0) return KILN_ERR_OUT_OF_MEMORY;
      if (node < 2) {
        t->root_child[node][b] = child;
      } else {
        if ((t->n_edges + 1) * 2 > t->edge_cap && !edges_grow(t)) return KILN_ERR_OUT_OF_MEMORY;
        uint64_t key = (((uint64_t)node << 8) | b) + 1;
        uint64_t j = edge_slot(t, key);
        t->edge_key[j] = key;
        t->edge_child[j] = child;
        t->n_edges++;
      }
    }
    node = child;
  }
  t->node_id[node] = id;
  return KILN_OK;
}

int32_t kiln_wp_trie_find(const kiln_wp_trie *t, int root, const char *text, size_t len) {
  int32_t node = root;
  for (size_t i = 0; i < len && node >= 0; i++) node = kiln_wp_trie_step(t, node, (unsigned char)text[i]);
  return node >= 0 ? t->node_id[node] : -1;
}
