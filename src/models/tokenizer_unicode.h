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

/* The answers for the whole Basic Multilingual Plane, worked out once
 * (kiln_wp_unicode_init, from kiln_tokenizer_load) so the text pass asks a
 * table instead of utf8proc and the corrections: bits 0-15 the lowercase,
 * 16-20 the class, 21 "has a canonical decomposition", 22 "lowercase is
 * outside the plane", 24-31 the combining class. */
extern uint32_t kiln_wp_bmp[0x10000];
void kiln_wp_unicode_init(void);

enum { KILN_WP_BMP_DECOMP = 1u << 21, KILN_WP_BMP_LOWER_FAR = 1u << 22 };

/* The same questions asked of utf8proc and the corrections directly. */
unsigned kiln_wp_class_slow(int32_t c);
int kiln_wp_ccc_slow(int32_t c);
int32_t kiln_wp_lower_slow(int32_t c);
int kiln_wp_decompose_slow(int32_t c, int32_t d[KILN_WP_MAX_DECOMP]);

static inline unsigned kiln_wp_class(int32_t c) {
  return c < 0x10000 ? (kiln_wp_bmp[c] >> 16) & 31u : kiln_wp_class_slow(c);
}
static inline int kiln_wp_ccc(int32_t c) {
  return c < 0x10000 ? (int)(kiln_wp_bmp[c] >> 24) : kiln_wp_ccc_slow(c);
}
static inline int32_t kiln_wp_lower(int32_t c) {
  return c < 0x10000 && !(kiln_wp_bmp[c] & KILN_WP_BMP_LOWER_FAR) ? (int32_t)(kiln_wp_bmp[c] & 0xFFFFu)
                                                                   : kiln_wp_lower_slow(c);
}
/* The full canonical decomposition of c (c itself when it has none) into
 * d; returns the count. */
static inline int kiln_wp_decompose(int32_t c, int32_t d[KILN_WP_MAX_DECOMP]) {
  if (c < 0x10000 && !(kiln_wp_bmp[c] & KILN_WP_BMP_DECOMP)) {
    d[0] = c;
    return 1;
  }
  return kiln_wp_decompose_slow(c, d);
}

#endif
