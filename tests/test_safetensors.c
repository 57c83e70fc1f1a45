/* The safetensors reader (src/models/safetensors.c, internal): good files
 * of every dtype give exactly their bytes; each way a header can lie about
 * the data is refused with a message naming the tensor and the problem. */
#include "harness.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A file: 8-byte length, the header padded with spaces to 8, then data. */
static unsigned char *make_file(const char *header, const void *data, size_t data_len,
                                size_t *size) {
  size_t h = strlen(header), padded = (h + 7) / 8 * 8;
  *size = 8 + padded + data_len;
  unsigned char *f = kt_alloc(*size + 8);
  for (int i = 0; i < 8; i++)
    f[i] = (unsigned char)((uint64_t)padded >> (8 * i));
  memcpy(f + 8, header, h);
  memset(f + 8 + h, ' ', padded - h);
  if (data_len)
    memcpy(f + 8 + padded, data, data_len);
  return f;
}

static void test_good(kt_env *env) {
  const float a[6] = {1, 2, 3, 4, 5, 6};
  const uint16_t h[2] = {0x3c00, 0xc000}; /* f16 1, -2 */
  const double d[1] = {0.25};
  unsigned char data[24 + 4 + 8 + 3];
  memcpy(data, d, 8);
  memcpy(data + 8, a, 24);
  memcpy(data + 32, h, 4);
  memcpy(data + 36, "xyz", 3);
  size_t size;
  const unsigned char *file = make_file(
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[36,39]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]},"
      "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[32,36]},"
      "\"d\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]},"
      "\"e\":{\"dtype\":\"BF16\",\"shape\":[0,7],\"data_offsets\":[36,36]}}",
      data, sizeof data, &size);
  kiln_safetensors *st = NULL;
  KT_OK(env, kiln_st_open_memory(file, size, "good", &st));
  const int64_t n = kiln_st_count(st);
  const kiln_st_tensor *ta = kiln_st_find(st, "a"), *th = kiln_st_find(st, "h"),
                       *td = kiln_st_find(st, "d"), *te = kiln_st_find(st, "e"),
                       *tu = kiln_st_find(st, "u");
  bool ok = n == 5 && ta && th && td && te && tu && !kiln_st_find(st, "__metadata__") &&
            !kiln_st_find(st, "b") && ta->ndim == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 &&
            ta->numel == 6 && ta->nbytes == 24 && memcmp(ta->data, a, 24) == 0 &&
            td->ndim == 0 && td->numel == 1 && te->numel == 0 && te->nbytes == 0 &&
            tu->dtype == KILN_ST_U8 && memcmp(tu->data, "xyz", 3) == 0;
  /* in offset order */
  for (int64_t i = 1; ok && i < n; i++)
    ok = (const unsigned char *)kiln_st_at(st, i - 1)->data <=
         (const unsigned char *)kiln_st_at(st, i)->data;
  float f[6];
  ok = ok && kiln_st_to_f32(ta, f, "t") == KILN_OK && memcmp(f, a, 24) == 0 &&
       kiln_st_to_f32(th, f, "t") == KILN_OK && f[0] == 1.0f && f[1] == -2.0f &&
       kiln_st_to_f32(td, f, "t") == KILN_OK && f[0] == 0.25f &&
       kiln_st_to_f32(tu, f, "t") == KILN_ERR_DTYPE;
  kiln_st_close(st);
  if (!ok)
    KT_FAIL(env, "the good file was not read back exactly");
}

typedef struct bad_case {
  const char *name;
  const char *header; /* NULL: raw bytes below */
  size_t data_len;
  const char *needles[3];
} bad_case;

static const bad_case bad_cases[] = {
    {"overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16,
     {"overlap", "'a'", "'b'"}},
    {"same_range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
     {"overlap"}},
    {"past_end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12,
     {"'a'", "[0, 16]", "12 bytes"}},
    {"size_mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16,
     {"'a'", "16 bytes", "12"}},
    {"begin_after_end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 16,
     {"'a'", "[8, 4]"}},
    {"misaligned", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 8,
     {"'a'", "aligned"}},
    {"overflow", "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],"
                 "\"data_offsets\":[0,8]}}", 8, {"'a'", "overflow"}},
    {"overflow_bytes", "{\"a\":{\"dtype\":\"F64\",\"shape\":[2147483648,2147483648],"
                       "\"data_offsets\":[0,8]}}", 8, {"'a'", "overflow"}},
    {"negative_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0,
     {"'a'", "shape[0]"}},
    {"fractional_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 8,
     {"shape[0]"}},
    {"string_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
     {"shape[0]"}},
    {"huge_offset", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1e300,1e300]}}", 8,
     {"data_offsets"}},
    {"three_offsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 8,
     {"data_offsets"}},
    {"unknown_dtype", "{\"a\":{\"dtype\":\"F8_E9\",\"shape\":[1],\"data_offsets\":[0,1]}}", 8,
     {"'a'", "F8_E9"}},
    {"no_dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 8, {"'a'", "dtype"}},
    {"entry_not_object", "{\"a\":[1,2]}", 8, {"'a'", "object"}},
    {"too_many_dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                      "\"data_offsets\":[0,1]}}", 8, {"'a'", "9 dims"}},
    {"duplicate", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                  "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 8,
     {"'a'", "twice"}},
    {"metadata_not_strings", "{\"__metadata__\":{\"n\":3}}", 0, {"__metadata__", "'n'"}},
    {"not_json", "{\"a\":", 0, {"not valid JSON"}},
    {"not_object", "[]", 0, {"not a JSON object"}},
};

static void test_bad(kt_env *env) {
  const bad_case *c = env->param;
  unsigned char zeros[64] = {0};
  size_t size;
  const unsigned char *file = make_file(c->header, zeros, c->data_len, &size);
  kiln_safetensors *st = (kiln_safetensors *)&size;
  const kiln_status s = kiln_st_open_memory(file, size, "bad.safetensors", &st);
  const char *needles[5] = {"bad.safetensors", c->needles[0], c->needles[1], c->needles[2], NULL};
  if (s == KILN_OK)
    kiln_st_close(st);
  kt_expect_error(env, s, KILN_ERR_INVALID_ARGUMENT, "kiln_st_open", NULL, needles);
  if (st)
    KT_FAIL(env, "*out is not NULL after a failure");
}

/* The length field: shorter than 8 bytes, past the end, and exactly at it. */
static void test_length_field(kt_env *env) {
  static const unsigned char short_file[5] = {1, 0, 0, 0, 0};
  kiln_safetensors *st = NULL;
  kt_expect_error(env, kiln_st_open_memory(short_file, 5, "f", &st), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_st_open", NULL, (const char *[]){"8-byte", NULL});
  unsigned char big[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
  kt_expect_error(env, kiln_st_open_memory(big, 16, "f", &st), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_st_open", NULL, (const char *[]){"runs past", NULL});
  unsigned char exact[10] = {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
  KT_OK(env, kiln_st_open_memory(exact, 10, "f", &st));
  if (kiln_st_count(st) != 0)
    KT_FAIL(env, "an empty header gave tensors");
  kiln_st_close(st);
  kt_expect_error(env, kiln_st_open("/nonexistent/x.safetensors", &st), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_st_open", NULL, (const char *[]){"/nonexistent/x.safetensors", NULL});
}

int main(void) {
  kt_add_host(test_good, NULL, "safetensors_good_every_dtype");
  kt_add_host(test_length_field, NULL, "safetensors_length_field");
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
    kt_add_host(test_bad, &bad_cases[i], "safetensors_bad_%s", bad_cases[i].name);
  return kt_run("safetensors");
}
