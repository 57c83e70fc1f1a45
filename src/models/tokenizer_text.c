/* The text pass of the BERT tokenizer, in the order Hugging Face's
 * BertNormalizer and BertPreTokenizer apply their steps:
 *   special tokens written in the raw text are split off first;
 *   clean text: NUL, U+FFFD and control characters (categories Cc, Cf, Co
 *     but tab, newline and carriage return) dropped, whitespace made space;
 *   CJK ideographs get a space on each side;
 *   strip accents: NFD (with its canonical reordering of combining marks),
 *     then every nonspacing mark (Mn) dropped;
 *   lowercase (per character, simple mapping; U+0130 gives "i\u0307");
 *   split on whitespace, and each punctuation character (ASCII punctuation
 *     or a Unicode P* category) is a word of its own.
 * All of it runs in one pass over the bytes, handing each finished word to
 * WordPiece, so nothing is allocated and nothing is read twice. Bytes that
 * are not UTF-8 decode to U+FFFD, which cleaning drops: the same result as
 * Python decoding with errors="replace" before the fast tokenizer.
 *
 * Unicode data comes from utf8proc, corrected where Hugging Face's Rust
 * crates use older Unicode tables (tokenizer_unicode.c), since matching its
 * ids is the point. */
#include "tokenizer_internal.h"
#include "tokenizer_unicode.h"

#include <string.h>

/* How the ASCII range behaves; the common case never leaves this table. */
enum { A_DROP, A_SPACE, A_PUNCT, A_CHAR };

static unsigned char ascii_class(unsigned char c) {
  if (c == '\t' || c == '\n' || c == '\r' || c == ' ') return A_SPACE;
  if (c < 0x20 || c == 0x7f) return A_DROP;
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return A_CHAR;
  return A_PUNCT; /* the rest of 0x21..0x7e is ASCII punctuation */
}

typedef struct scan {
  const kiln_tokenizer *tok;
  kiln_wp_out *out;
  unsigned char word[KILN_WP_WORD_BYTES];
  size_t n_bytes;
  int n_chars;
  bool overlong;
  bool stop;
  /* The current run of combining characters (canonical combining class
   * > 0) that survive the Mn filter, held back until the run ends so NFD's
   * canonical order can be applied to them. Longer runs make the word
   * overlong anyway, so a bounded buffer loses nothing. */
  int32_t run_cp[KILN_WP_MAX_WORD_CHARS + 1];
  uint8_t run_ccc[KILN_WP_MAX_WORD_CHARS + 1];
  int run_n;
  bool run_overflow;
} scan;

static void put_utf8(scan *s, int32_t c) {
  if (++s->n_chars > KILN_WP_MAX_WORD_CHARS) {
    s->overlong = true;
    return;
  }
  unsigned char *p = s->word + s->n_bytes;
  if (c < 0x80) {
    p[0] = (unsigned char)c;
    s->n_bytes += 1;
  } else if (c < 0x800) {
    p[0] = (unsigned char)(0xC0 | (c >> 6));
    p[1] = (unsigned char)(0x80 | (c & 0x3F));
    s->n_bytes += 2;
  } else if (c < 0x10000) {
    p[0] = (unsigned char)(0xE0 | (c >> 12));
    p[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    p[2] = (unsigned char)(0x80 | (c & 0x3F));
    s->n_bytes += 3;
  } else {
    p[0] = (unsigned char)(0xF0 | (c >> 18));
    p[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    p[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    p[3] = (unsigned char)(0x80 | (c & 0x3F));
    s->n_bytes += 4;
  }
}

static void end_word(scan *s) {
  if (s->n_chars > 0 && !s->stop) {
    s->stop = kiln_wp_word(s->out, s->word, s->overlong ? 0 : s->n_bytes, s->overlong);
  }
  s->n_bytes = 0;
  s->n_chars = 0;
  s->overlong = false;
}

/* A normalized character (after NFD and the Mn filter): lowercase it, then
 * split on it or add it to the word. */
static void emit_char(scan *s, int32_t c) {
  if (s->tok->lowercase) {
    if (c == 0x130) { /* the one character whose lowercase is two */
      emit_char(s, 'i');
      c = 0x307;
    } else {
      c = kiln_wp_lower(c);
    }
  }
  unsigned cls = kiln_wp_class(c);
  if (cls & KILN_WP_SPACE) {
    end_word(s);
  } else if (cls & KILN_WP_PUNCT) {
    end_word(s);
    put_utf8(s, c);
    end_word(s);
  } else {
    put_utf8(s, c);
  }
}

static void end_run(scan *s) {
  if (s->run_n == 0) return;
  /* Stable insertion sort by combining class: NFD's canonical order. The
   * run is at most KILN_WP_MAX_WORD_CHARS + 1 long. */
  for (int i = 1; i < s->run_n; i++) {
    int32_t cp = s->run_cp[i];
    uint8_t cc = s->run_ccc[i];
    int j = i;
    while (j > 0 && s->run_ccc[j - 1] > cc) {
      s->run_cp[j] = s->run_cp[j - 1];
      s->run_ccc[j] = s->run_ccc[j - 1];
      j--;
    }
    s->run_cp[j] = cp;
    s->run_ccc[j] = cc;
  }
  for (int i = 0; i < s->run_n; i++) emit_char(s, s->run_cp[i]);
  if (s->run_overflow) s->overlong = true, s->n_chars = KILN_WP_MAX_WORD_CHARS + 1;
  s->run_n = 0;
  s->run_overflow = false;
}

/* One character of NFD output: drop it when it is a nonspacing mark; hold
 * it back when it is a combining character (it may need reordering). */
static void nfd_char(scan *s, int32_t c) {
  unsigned cls = kiln_wp_class(c);
  int ccc = kiln_wp_ccc(c);
  if (ccc == 0) end_run(s);
  if (cls & KILN_WP_MN) return;
  if (ccc == 0) {
    emit_char(s, c);
  } else if (s->run_n <= KILN_WP_MAX_WORD_CHARS) {
    s->run_cp[s->run_n] = c;
    s->run_ccc[s->run_n] = (uint8_t)ccc;
    s->run_n++;
  } else {
    s->run_overflow = true;
  }
}

/* A character that survived cleaning and is not a CJK ideograph. */
static void normalize_char(scan *s, int32_t c) {
  if (!s->tok->strip_accents) {
    emit_char(s, c);
    return;
  }
  int32_t d[KILN_WP_MAX_DECOMP];
  int n = kiln_wp_decompose(c, d);
  for (int i = 0; i < n; i++) nfd_char(s, d[i]);
}

static void boundary(scan *s) {
  end_run(s);
  end_word(s);
}

/* A decoded character of the input, cleaned and normalized. */
static void input_char(scan *s, int32_t c) {
  unsigned cls = kiln_wp_class(c);
  if (cls & KILN_WP_DROP) return;
  if (cls & KILN_WP_SPACE) {
    boundary(s);
    return;
  }
  if ((cls & KILN_WP_CJK) && s->tok->chinese_chars) {
    boundary(s);
    normalize_char(s, c);
    boundary(s);
    return;
  }
  normalize_char(s, c);
}

/* Decodes one character at p (n > 0 bytes left). Returns its length in
 * bytes and the code point in *c, U+FFFD for an ill-formed sequence, whose
 * length is then its maximal well-formed prefix (at least 1), as Unicode
 * and Python count them: a byte that cannot continue the sequence is never
 * swallowed. */
static size_t decode(const unsigned char *p, size_t n, int32_t *c) {
  unsigned char b = p[0];
  int need;
  int32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b < 0x80) {
    *c = b;
    return 1;
  } else if (b >= 0xC2 && b <= 0xDF) {
    need = 1, cp = b & 0x1F;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 2, cp = b & 0x0F;
    if (b == 0xE0) lo = 0xA0;      /* no overlongs */
    else if (b == 0xED) hi = 0x9F; /* no surrogates */
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 3, cp = b & 0x07;
    if (b == 0xF0) lo = 0x90;      /* no overlongs */
    else if (b == 0xF4) hi = 0x8F; /* nothing past U+10FFFF */
  } else {
    *c = 0xFFFD;
    return 1;
  }
  size_t i = 1;
  for (; i <= (size_t)need; i++) {
    if (i >= n || p[i] < lo || p[i] > hi) {
      *c = 0xFFFD;
      return i;
    }
    cp = (cp << 6) | (p[i] & 0x3F);
    lo = 0x80, hi = 0xBF;
  }
  *c = cp;
  return i;
}

/* The longest special token written at p, or -1. */
static int special_at(const kiln_tokenizer *tok, const unsigned char *p, size_t n) {
  int best = -1;
  for (int k = 0; k < tok->n_special; k++) {
    const kiln_wp_special *sp = &tok->special[k];
    if (sp->len <= n && memcmp(p, sp->text, sp->len) == 0 &&
        (best < 0 || sp->len > tok->special[best].len))
      best = k;
  }
  return best;
}

void kiln_wp_scan(const kiln_tokenizer *tok, const unsigned char *text, size_t len,
                  kiln_wp_out *out) {
  scan s;
  s.tok = tok;
  s.out = out;
  s.n_bytes = 0;
  s.n_chars = 0;
  s.overlong = false;
  s.stop = false;
  s.run_n = 0;
  s.run_overflow = false;
  const bool lower = tok->lowercase;

  size_t i = 0;
  while (i < len && !s.stop) {
    unsigned char b = text[i];
    if (tok->special_first[b]) {
      int k = special_at(tok, text + i, len - i);
      if (k >= 0) {
        boundary(&s);
        if (!s.stop) s.stop = kiln_wp_special_token(out, tok->special[k].id);
        i += tok->special[k].len;
        continue;
      }
    }
    if (b < 0x80) {
      /* ASCII: no decomposition, no combining class, no CJK. */
      switch (ascii_class(b)) {
      case A_DROP: break;
      case A_SPACE: boundary(&s); break;
      case A_PUNCT:
        boundary(&s);
        put_utf8(&s, b);
        end_word(&s);
        break;
      default:
        if (s.run_n) end_run(&s);
        if (lower && b >= 'A' && b <= 'Z') b = (unsigned char)(b + 32);
        if (s.n_chars < KILN_WP_MAX_WORD_CHARS) {
          s.word[s.n_bytes++] = b;
          s.n_chars++;
        } else {
          s.n_chars++;
          s.overlong = true;
        }
      }
      i++;
      continue;
    }
    int32_t c;
    i += decode(text + i, len - i, &c);
    input_char(&s, c);
  }
  boundary(&s);
}
