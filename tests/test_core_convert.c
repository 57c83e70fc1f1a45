/* The public f32 <-> f16/bf16 converters: hand-derived bit patterns for the
 * cases that matter (ties to even, subnormals, overflow, inf, NaN), then
 * every 16-bit word and a large sweep of f32 inputs against a rounding
 * derived in double precision. */
#include "harness.h"

#include <math.h>
#include <string.h>

void core_register_convert(void);

#define NAN16 0xffffu /* in the tables: "any NaN" */

typedef struct narrow_case {
  uint32_t in; /* f32 bit pattern */
  uint16_t want;
  const char *why;
} narrow_case;

/* clang-format off */
static const narrow_case to_f16[] = {
  {0x00000000, 0x0000, "+0"},
  {0x80000000, 0x8000, "-0 keeps its sign"},
  {0x3f800000, 0x3c00, "1"},
  {0xc0000000, 0xc000, "-2"},
  {0x3dcccccd, 0x2e66, "0.1: mantissa 614.4 rounds down"},
  {0x3eaaaaab, 0x3555, "1/3"},
  {0x477fe000, 0x7bff, "65504, the largest f16"},
  {0x477fef00, 0x7bff, "65519 is below the midpoint to 65536"},
  {0x477ff000, 0x7c00, "65520 is a tie; 0x7bff is odd, so it rounds up, to inf"},
  {0x47800000, 0x7c00, "65536 overflows"},
  {0x47c35000, 0x7c00, "1e5 overflows to inf"},
  {0xc7c35000, 0xfc00, "-1e5 overflows to -inf"},
  {0x7f7fffff, 0x7c00, "FLT_MAX overflows to inf"},
  {0x7f800000, 0x7c00, "inf"},
  {0xff800000, 0xfc00, "-inf"},
  {0x38800000, 0x0400, "2^-14, the smallest normal"},
  {0x387fc000, 0x03ff, "1023 * 2^-24, the largest subnormal"},
  {0x387fe000, 0x0400, "1023.5 * 2^-24: tie, 0x3ff is odd, rounds up into the normals"},
  {0x33800000, 0x0001, "2^-24, the smallest subnormal"},
  {0xb3800000, 0x8001, "-2^-24"},
  {0x33000000, 0x0000, "2^-25: tie between 0 and 2^-24, to even 0"},
  {0x33000001, 0x0001, "just above 2^-25 rounds up"},
  {0x33c00000, 0x0002, "3 * 2^-25: tie between 1 and 2 ulps, to even 2"},
  {0x32800000, 0x0000, "2^-26 underflows to 0"},
  {0x00000001, 0x0000, "the smallest f32 subnormal underflows"},
  {0x80000001, 0x8000, "and keeps its sign"},
  {0x3f801000, 0x3c00, "1 + 2^-11: tie, to even 0x3c00"},
  {0x3f803000, 0x3c02, "1 + 3 * 2^-11: tie, to even 0x3c02"},
  {0x3f801001, 0x3c01, "just above the tie rounds up"},
  {0x3f800fff, 0x3c00, "just below the tie rounds down"},
  {0x45000800, 0x6800, "2048.5: ulp 2 here, rounds down"},
  {0x45001000, 0x6800, "2049: tie, to even 2048"},
  {0x45003000, 0x6802, "2051: tie, to even 2052"},
  {0x7fc00000, NAN16, "quiet NaN"},
  {0xffc00000, NAN16, "negative NaN"},
  {0x7f800001, NAN16, "a NaN with only the lowest payload bit must not become inf"},
  {0x7f801fff, NAN16, "a NaN whose payload lies in the dropped bits"},
};

static const narrow_case to_bf16[] = {
  {0x00000000, 0x0000, "+0"},
  {0x80000000, 0x8000, "-0"},
  {0x3f800000, 0x3f80, "1"},
  {0xbf800000, 0xbf80, "-1"},
  {0x40400000, 0x4040, "3"},
  {0x3dcccccd, 0x3dcd, "0.1: dropped half 0xcccd > 0x8000 rounds up"},
  {0x3f808000, 0x3f80, "1 + 2^-8: tie, to even 0x3f80"},
  {0x3f818000, 0x3f82, "1 + 3 * 2^-8: tie, to even 0x3f82"},
  {0x3f808001, 0x3f81, "just above the tie rounds up"},
  {0x3f807fff, 0x3f80, "just below the tie rounds down"},
  {0x7f7f0000, 0x7f7f, "the largest bf16"},
  {0x7f7e8000, 0x7f7e, "tie below the largest, to even 0x7f7e"},
  {0x7f7f8000, 0x7f80, "tie above the largest: 0x7f7f is odd, rounds up to inf"},
  {0x7f7fffff, 0x7f80, "FLT_MAX overflows to inf"},
  {0x7f800000, 0x7f80, "inf"},
  {0xff800000, 0xff80, "-inf"},
  {0x00010000, 0x0001, "the smallest bf16 subnormal"},
  {0x00008000, 0x0000, "tie between 0 and it, to even 0"},
  {0x00018000, 0x0002, "tie between 1 and 2 ulps, to even 2"},
  {0x80008001, 0x8001, "negative subnormal just above a tie"},
  {0x7fc00000, NAN16, "quiet NaN"},
  {0xffc00000, NAN16, "negative NaN"},
  {0x7f800001, NAN16, "a NaN with only the lowest payload bit must not become inf"},
  {0x7f80ffff, NAN16, "a NaN whose payload lies in the dropped half"},
};

typedef struct widen_case {
  uint16_t in;
  uint32_t want; /* f32 bits; 0xffffffff: any NaN */
  const char *why;
} widen_case;

static const widen_case from_f16[] = {
  {0x3c00, 0x3f800000, "1"},
  {0xc000, 0xc0000000, "-2"},
  {0x3555, 0x3eaaa000, "0x1.554p-2"},
  {0x0001, 0x33800000, "the smallest subnormal, 2^-24"},
  {0x03ff, 0x387fc000, "the largest subnormal"},
  {0x8001, 0xb3800000, "-2^-24"},
  {0x0400, 0x38800000, "the smallest normal"},
  {0x7bff, 0x477fe000, "65504"},
  {0x7c00, 0x7f800000, "inf"},
  {0xfc00, 0xff800000, "-inf"},
  {0x8000, 0x80000000, "-0"},
  {0x7e00, 0xffffffff, "NaN"},
  {0x7c01, 0xffffffff, "NaN with the lowest payload bit"},
  {0xfe00, 0xffffffff, "negative NaN"},
};
/* clang-format on */

static float f32_of(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static uint32_t bits_of(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static bool is_nan16(uint16_t h, bool bf) {
  return bf ? (h & 0x7f80u) == 0x7f80u && (h & 0x7fu) : (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
}

static void check_narrow(kt_env *env, const narrow_case *t, size_t n, bool bf) {
  for (size_t i = 0; i < n; i++) {
    float in = f32_of(t[i].in);
    uint16_t got = 0x1234;
    (bf ? kiln_f32_to_bf16 : kiln_f32_to_f16)(&in, &got, 1);
    bool ok = t[i].want == NAN16 ? is_nan16(got, bf) : got == t[i].want;
    if (!ok)
      KT_FAIL(env, "kiln_f32_to_%s(0x%08x = %.9g) = 0x%04x, want 0x%04x (%s)", bf ? "bf16" : "f16",
              t[i].in, in, got, t[i].want, t[i].why);
  }
}

static void test_f32_to_f16_table(kt_env *env) {
  check_narrow(env, to_f16, sizeof to_f16 / sizeof to_f16[0], false);
}

static void test_f32_to_bf16_table(kt_env *env) {
  check_narrow(env, to_bf16, sizeof to_bf16 / sizeof to_bf16[0], true);
}

static void test_f16_to_f32_table(kt_env *env) {
  for (size_t i = 0; i < sizeof from_f16 / sizeof from_f16[0]; i++) {
    float got;
    kiln_f16_to_f32(&from_f16[i].in, &got, 1);
    bool ok = from_f16[i].want == 0xffffffffu ? isnan(got) : bits_of(got) == from_f16[i].want;
    if (!ok)
      KT_FAIL(env, "kiln_f16_to_f32(0x%04x) = 0x%08x, want 0x%08x (%s)", from_f16[i].in,
              bits_of(got), from_f16[i].want, from_f16[i].why);
  }
}

/* Every one of the 65536 words, widened by the library, against the
 * decoder in the harness; then narrowed back, which must give the word
 * again (every f16/bf16 value is exact in f32). */
static void check_all_words(kt_env *env, bool bf) {
  enum { N = 65536 };
  uint16_t *words = kt_alloc(N * sizeof *words), *back = kt_alloc(N * sizeof *back);
  float *wide = kt_alloc(N * sizeof *wide);
  for (uint32_t i = 0; i < N; i++)
    words[i] = (uint16_t)i;
  (bf ? kiln_bf16_to_f32 : kiln_f16_to_f32)(words, wide, N);
  (bf ? kiln_f32_to_bf16 : kiln_f32_to_f16)(wide, back, N);
  for (uint32_t i = 0; i < N; i++) {
    double want = bf ? kt_bf16_value(words[i]) : kt_f16_value(words[i]);
    bool nan = isnan(want);
    if (nan ? !isnan(wide[i]) : (wide[i] != want || !signbit(wide[i]) != !signbit(want)))
      KT_FAIL(env, "%s word 0x%04x widens to %.9g, its value is %.9g", bf ? "bf16" : "f16",
              words[i], wide[i], want);
    if (nan ? !is_nan16(back[i], bf) : back[i] != words[i])
      KT_FAIL(env, "%s word 0x%04x widened and narrowed again gives 0x%04x", bf ? "bf16" : "f16",
              words[i], back[i]);
  }
}

static void test_f16_all_words(kt_env *env) { check_all_words(env, false); }
static void test_bf16_all_words(kt_env *env) { check_all_words(env, true); }

/* Round to nearest even with p significant bits, the smallest normal
 * exponent emin, and overflow at `top` (the tie above the largest value,
 * which rounds to the odd-mantissa side's even neighbour: infinity). Done
 * in double, where every f32 input and every step here is exact. */
static double round_double(double x, int p, int emin, double top) {
  if (isnan(x))
    return x;
  double a = fabs(x);
  if (a >= top)
    return copysign(INFINITY, x);
  int e;
  frexp(a, &e); /* a = f * 2^e, f in [0.5, 1): a's ulp is 2^(e - p) */
  int q = e - p < emin - p + 1 ? emin - p + 1 : e - p; /* subnormals share emin's ulp */
  return copysign(ldexp(rint(ldexp(a, -q)), q), x);
}

static double round_f16(double x) { return round_double(x, 11, -14, 65520.0); }
static double round_bf16(double x) { return round_double(x, 8, -126, ldexp(2.0 - 0x1p-8, 127)); }

/* Inputs that stress rounding: each tie between neighbouring 16-bit values,
 * the f32 values just beside it, and random f32 bit patterns. */
static size_t sweep_inputs(kt_env *env, float *in, size_t cap, bool bf) {
  size_t n = 0;
  for (uint32_t w = 0; w < 0x7fff && n + 6 <= cap; w++) {
    double lo = bf ? kt_bf16_value((uint16_t)w) : kt_f16_value((uint16_t)w);
    double hi = bf ? kt_bf16_value((uint16_t)(w + 1)) : kt_f16_value((uint16_t)(w + 1));
    if (!isfinite(lo))
      break;
    if (!isfinite(hi)) /* above the largest value, where the next would be */
      hi = bf ? ldexp(2.0, 127) : 65536.0;
    float mid = (float)((lo + hi) / 2); /* exact: one bit more than the format */
    const float around[3] = {mid, nextafterf(mid, 0.0f), nextafterf(mid, INFINITY)};
    for (int k = 0; k < 3; k++) {
      in[n++] = around[k];
      in[n++] = -around[k];
    }
  }
  while (n < cap)
    in[n++] = f32_of((uint32_t)kt_rand(env));
  return n;
}

static void check_sweep(kt_env *env, bool bf) {
  size_t cap = kt_quick() ? (size_t)1 << 18 : (size_t)1 << 21;
  float *in = kt_alloc(cap * sizeof *in);
  uint16_t *out = kt_alloc(cap * sizeof *out);
  size_t n = sweep_inputs(env, in, cap, bf);
  (bf ? kiln_f32_to_bf16 : kiln_f32_to_f16)(in, out, n);
  for (size_t i = 0; i < n; i++) {
    double want = bf ? round_bf16(in[i]) : round_f16(in[i]);
    double got = bf ? kt_bf16_value(out[i]) : kt_f16_value(out[i]);
    bool ok = isnan(want) ? isnan(got) : got == want && !signbit(got) == !signbit(want);
    if (!ok)
      KT_FAIL(env, "kiln_f32_to_%s(0x%08x = %.9g) = 0x%04x = %.9g, rounding in double gives %.9g",
              bf ? "bf16" : "f16", bits_of(in[i]), in[i], out[i], got, want);
  }
}

static void test_f16_sweep(kt_env *env) { check_sweep(env, false); }
static void test_bf16_sweep(kt_env *env) { check_sweep(env, true); }

/* n counts elements: n = 0 writes nothing. */
static void test_zero_count(kt_env *env) {
  float f = 1.5f;
  uint16_t h = 0xabcd;
  kiln_f32_to_f16(&f, &h, 0);
  kiln_f32_to_bf16(&f, &h, 0);
  kiln_f16_to_f32(&h, &f, 0);
  kiln_bf16_to_f32(&h, &f, 0);
  if (h != 0xabcd || f != 1.5f)
    KT_FAIL(env, "a conversion of 0 elements wrote to dst");
}

void core_register_convert(void) {
  kt_add_host(test_f32_to_f16_table, NULL, "f32_to_f16_hand_derived");
  kt_add_host(test_f32_to_bf16_table, NULL, "f32_to_bf16_hand_derived");
  kt_add_host(test_f16_to_f32_table, NULL, "f16_to_f32_hand_derived");
  kt_add_host(test_f16_all_words, NULL, "f16_every_word");
  kt_add_host(test_bf16_all_words, NULL, "bf16_every_word");
  kt_add_host(test_f16_sweep, NULL, "f32_to_f16_vs_double_rounding");
  kt_add_host(test_bf16_sweep, NULL, "f32_to_bf16_vs_double_rounding");
  kt_add_host(test_zero_count, NULL, "convert_zero_elements");
}
