/* WordPiece on the words of the text pass, truncation, and
 * kiln_tokenizer_encode. */
#include "tokenizer_internal.h"

#include "kiln.h"

#include <stdlib.h>
#include <string.h>

/* Where the pieces go: the caller's array when it is sure to be big enough,
 * else a buffer of our own, so that a call that fails writes nothing. */
struct kiln_wp_out {
  const kiln_tokenizer *tok;
  int32_t *ids;      /* ids[0] is [CLS]; pieces from ids[1] */
  int64_t n_pieces;  /* pieces so far */
  int64_t limit;     /* the most pieces max_length leaves room for */
  int64_t cap;       /* room for pieces in ids (after [CLS], before [SEP]) */
  int32_t *own;      /* ids, when it is our buffer (grown on demand) */
  bool oom;
};

static bool push(kiln_wp_out *o, int32_t id) {
  if (o->n_pieces == o->cap) {
    /* Only our own buffer can fill up: grow it, keeping room for [SEP]. */
    int64_t cap = o->cap < 256 ? 256 : o->cap * 2;
    if (cap > o->limit) cap = o->limit;
    int32_t *grown = realloc(o->own, (size_t)(cap + 2) * sizeof *grown);
    if (!grown) {
      o->oom = true;
      return true;
    }
    o->own = o->ids = grown;
    o->cap = cap;
  }
  o->ids[1 + o->n_pieces++] = id;
  return o->n_pieces >= o->limit;
}

bool kiln_wp_special_token(kiln_wp_out *o, int32_t id) { return push(o, id); }

/* Greedy longest match from the start of the word, then from the end of
 * each piece with the "##" pieces. One unmatched position makes the whole
 * word [UNK]. The trie walk from a position stops where no vocabulary entry
 * continues, so a word costs at most its length times the longest entry. */
bool kiln_wp_word(kiln_wp_out *o, const unsigned char *w, size_t n, bool overlong) {
  const kiln_tokenizer *tok = o->tok;
  if (overlong) return push(o, tok->unk_id);
  int32_t pieces[KILN_WP_MAX_WORD_CHARS];
  int n_pieces = 0;
  const kiln_wp_trie *t = &tok->trie;
  size_t start = 0;
  while (start < n) {
    int32_t node = start == 0 ? 0 : 1;
    size_t best_end = 0;
    int32_t best_id = -1;
    for (size_t i = start; i < n; i++) {
      node = kiln_wp_trie_step(t, node, w[i]);
      if (node < 0) break;
      int32_t id = t->node_id[node];
      if (id >= 0) {
        best_end = i + 1;
        best_id = id;
      }
    }
    if (best_id < 0) return push(o, tok->unk_id);
    pieces[n_pieces++] = best_id;
    start = best_end;
  }
  for (int k = 0; k < n_pieces; k++)
    if (push(o, pieces[k])) return true;
  return false;
}

kiln_status kiln_tokenizer_encode(const kiln_tokenizer *tok, const char *text, size_t len,
                                  int64_t max_length, int32_t *ids, int64_t capacity,
                                  int64_t *n_ids) {
  static const char *FN = "kiln_tokenizer_encode";
  if (!tok) return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: tok is NULL", FN);
  if (!n_ids) return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: n_ids is NULL", FN);
  if (!text && len > 0)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: text is NULL but len is %zu", FN, len);
  if (max_length == 0) max_length = tok->max_length;
  if (max_length < 2)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                     "%s: max_length is %lld; it must be 0 (the tokenizer's %lld) or at least 2 "
                     "([CLS] and [SEP])",
                     FN, (long long)max_length, (long long)tok->max_length);
  if (capacity < 0)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: capacity is %lld", FN, (long long)capacity);
  if (!ids && capacity > 0)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: ids is NULL but capacity is %lld", FN,
                     (long long)capacity);

  kiln_wp_out o = {.tok = tok, .limit = max_length - 2};
  int32_t local[512];
  if (capacity >= max_length) {
    o.ids = ids; /* cannot overflow: write in place */
    o.cap = o.limit;
  } else if (max_length <= (int64_t)(sizeof local / sizeof local[0])) {
    o.ids = local;
    o.cap = o.limit;
  } else {
    o.ids = NULL; /* grown on the first piece */
    o.cap = 0;
  }
  if (o.limit > 0) kiln_wp_scan(tok, (const unsigned char *)text, len, &o);
  if (o.oom) {
    free(o.own);
    return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory holding %lld pieces of a %zu-byte text",
                     FN, (long long)o.n_pieces, len);
  }
  int64_t need = o.n_pieces + 2;
  if (need > capacity) {
    free(o.own);
    *n_ids = need;
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                     "%s: the text needs %lld ids (max_length %lld) but ids has room for %lld", FN,
                     (long long)need, (long long)max_length, (long long)capacity);
  }
  if (o.ids != ids) memcpy(ids + 1, o.ids + 1, (size_t)o.n_pieces * sizeof *ids);
  ids[0] = tok->cls_id;
  ids[need - 1] = tok->sep_id;
  free(o.own);
  *n_ids = need;
  return KILN_OK;
}
