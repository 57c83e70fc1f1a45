/* Unicode properties for the BERT text pass: utf8proc's tables, with the
 * corrections below where Hugging Face's
 * tokenizers (whose Rust crates carry older Unicode tables) behaves
 * differently, so that the ids match its fast tokenizer. */
#include "tokenizer_unicode.h"

#include <utf8proc.h>

static int is_cjk(int32_t c) {
  /* The CJK Unified Ideographs blocks and extensions BERT spaces out. */
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static unsigned class_of_category(int32_t c, utf8proc_category_t cat) {
  switch (cat) {
  case UTF8PROC_CATEGORY_CC:
    if (c == '\t' || c == '\n' || c == '\r') return KILN_WP_SPACE;
    return KILN_WP_DROP;
  case UTF8PROC_CATEGORY_CF:
  case UTF8PROC_CATEGORY_CO:
  case UTF8PROC_CATEGORY_CS:
    return KILN_WP_DROP;
  case UTF8PROC_CATEGORY_ZS:
  case UTF8PROC_CATEGORY_ZL:
  case UTF8PROC_CATEGORY_ZP:
    return KILN_WP_SPACE;
  case UTF8PROC_CATEGORY_PC:
  case UTF8PROC_CATEGORY_PD:
  case UTF8PROC_CATEGORY_PS:
  case UTF8PROC_CATEGORY_PE:
  case UTF8PROC_CATEGORY_PI:
  case UTF8PROC_CATEGORY_PF:
  case UTF8PROC_CATEGORY_PO:
    return KILN_WP_PUNCT;
  case UTF8PROC_CATEGORY_MN:
    return KILN_WP_MN;
  default:
    return 0;
  }
}

unsigned kiln_wp_class(int32_t c) {
  if (c < 0x80) {
    if (c == '\t' || c == '\n' || c == '\r' || c == ' ') return KILN_WP_SPACE;
    if (c < 0x20 || c == 0x7f) return KILN_WP_DROP;
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 0;
    return KILN_WP_PUNCT;
  }
  if (c == 0xFFFD) return KILN_WP_DROP;
  unsigned cls = class_of_category(c, (utf8proc_category_t)utf8proc_get_property(c)->category);
  if (is_cjk(c)) cls |= KILN_WP_CJK;
  return cls;
}

int kiln_wp_ccc(int32_t c) {
  return c < 0x300 ? 0 : utf8proc_get_property(c)->combining_class;
}

int32_t kiln_wp_lower(int32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  return utf8proc_tolower(c);
}

int kiln_wp_decompose(int32_t c, int32_t d[KILN_WP_MAX_DECOMP]) {
  if (c < 0xC0) {
    d[0] = c;
    return 1;
  }
  int boundclass = 0;
  utf8proc_ssize_t n = utf8proc_decompose_char(c, d, KILN_WP_MAX_DECOMP, UTF8PROC_DECOMPOSE,
                                               &boundclass);
  if (n < 1 || n > KILN_WP_MAX_DECOMP) {
    d[0] = c;
    return 1;
  }
  return (int)n;
}
