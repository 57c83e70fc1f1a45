/* The vocabulary as a byte trie, so that WordPiece's longest match from a
 * position is one walk down the trie (a step per byte) instead of a hash of
 * every candidate substring. */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

static uint64_t edge_slot(const kiln_wp_trie *t, uint32_t key) {
  uint64_t mask = t->edge_cap - 1;
  uint64_t i = kiln_wp_edge_hash(key) & mask;
  while (t->edge[i] != 0 && (uint32_t)(t->edge[i] >> 32) != key) i = (i + 1) & mask;
  return i;
}

/* Doubles the edge table (kept at most half full, so probes stay short). */
static bool edges_grow(kiln_wp_trie *t) {
  uint64_t *old = t->edge, old_cap = t->edge_cap;
  uint64_t *grown = calloc(old_cap * 2, sizeof *grown);
  if (!grown) return false;
  t->edge = grown;
  t->edge_cap = old_cap * 2;
  for (uint64_t i = 0; i < old_cap; i++)
    if (old[i]) t->edge[edge_slot(t, (uint32_t)(old[i] >> 32))] = old[i];
  free(old);
  return true;
}

static int32_t new_node(kiln_wp_trie *t) {
  if (t->n_nodes >= KILN_WP_MAX_NODES) return -1;
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
  if (t->cap_nodes > KILN_WP_MAX_NODES) t->cap_nodes = KILN_WP_MAX_NODES;
  t->node_id = malloc((size_t)t->cap_nodes * sizeof *t->node_id);
  uint64_t cap = 1024;
  while (cap < (uint64_t)t->cap_nodes * 2) cap *= 2;
  t->edge = calloc(cap, sizeof *t->edge);
  t->edge_cap = cap;
  if (!t->node_id || !t->edge) {
    kiln_wp_trie_free(t);
    return KILN_ERR_OUT_OF_MEMORY;
  }
  t->node_id[0] = t->node_id[1] = -1;
  t->n_nodes = 2;
  return KILN_OK;
}

void kiln_wp_trie_free(kiln_wp_trie *t) {
  free(t->node_id);
  free(t->edge);
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
        uint32_t key = (((uint32_t)node << 8) | b) + 1;
        t->edge[edge_slot(t, key)] = (uint64_t)key << 32 | (uint32_t)child;
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
