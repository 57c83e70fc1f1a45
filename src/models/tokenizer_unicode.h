/* The Unicode properties the BERT text pass asks about, as Hugging Face's
 * tokenizers sees them (tokenizer_unicode.c). */
#ifndef KILN_TOKENIZER_UNICODE_H
#define KILN_TOKENIZER_UNICODE_H

#include <stdint.h>

enum {
  KILN_WP_DROP = 1,  /* removed by clean text: NUL, U+FFFD, Cc/Cf/Co/Cs but \t \n \r */
  KILN_WP_SPACE = 2, /* White_Space (\t \n \r count; other Cc are dropped first) */
  KILN_WP_PUNCT = 4, /* ASCII punctuation or a P* category: a word of its own */
  KILN_WP_MN = 8,    /* nonspacing mark: dropped when accents are stripped */
  KILN_WP_CJK = 16   /* a CJK ideograph: spaced */
};

/* The most code points one character's canonical decomposition gives. */
#define KILN_WP_MAX_DECOMP 8

unsigned kiln_wp_class(int32_t c);
int kiln_wp_ccc(int32_t c);
int32_t kiln_wp_lower(int32_t c);
/* The full canonical decomposition of c (c itself when it has none) into
 * d; returns the count. */
int kiln_wp_decompose(int32_t c, int32_t d[KILN_WP_MAX_DECOMP]);

#endif
