/* kiln_embedding: exact row copies in every dtype, ids of any shape, and a
 * bad id refused before anything is written. */
#include "harness_ops.h"

#include <string.h>

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};

typedef struct emb_case {
  const char *name;
  int64_t vocab, d;
  int ndim;
  int64_t ids_shape[3];
} emb_case;

static const emb_case cases[] = {
    {"one", 1, 1, 1, {1}},
    {"v17_d3_ids_2x5", 17, 3, 2, {2, 5}},
    {"v1000_d4099_ids_7", 1000, 4099, 1, {7}},
    {"v30522_d17_ids_1x3x33", 30522, 17, 3, {1, 3, 33}},
};

static void test_case(kt_env *env) {
  const emb_case *c = env->param;
  const int64_t ts[2] = {c->vocab, c->d};
  kiln_tensor *table = kt_tensor(env, env->dtype, 2, ts);
  double *tv = kt_random(env, table, -3.0, 3.0);
  int64_t n = 1, os[4];
  for (int i = 0; i < c->ndim; i++)
    n *= os[i] = c->ids_shape[i];
  os[c->ndim] = c->d;
  int32_t *ids = kt_alloc((size_t)n * sizeof *ids);
  for (int64_t i = 0; i < n; i++) /* the ends of the table included */
    ids[i] = i == 0 ? 0 : i == 1 ? (int32_t)(c->vocab - 1) : (int32_t)(kt_rand(env) % (uint64_t)c->vocab);
  kiln_tensor *t_ids = kx_ids(env, c->ndim, c->ids_shape, ids);
  kiln_tensor *out = kt_tensor(env, env->dtype, c->ndim + 1, os);
  kt_poison(env, out);
  KT_OK(env, kiln_embedding(env->ctx, table, t_ids, out));
  double *ov = kt_read(env, out);
  for (int64_t i = 0; i < n; i++)
    if (memcmp(ov + i * c->d, tv + (int64_t)ids[i] * c->d, (size_t)c->d * sizeof *ov) != 0)
      KT_FAIL(env, "out row %lld is not table row %d", (long long)i, ids[i]);
}

/* An id out of range, anywhere: the named error, nothing written. */
static void test_bad_id(kt_env *env) {
  const int64_t ts[2] = {30522, 8}, is[1] = {5}, os[2] = {5, 8};
  const int32_t bad_ids[2][5] = {{1, 2, 3, 50000, 4}, {0, -1, 2, 3, 4}};
  const char *needles[2][3] = {{"ids[3]", "50000", "30522"}, {"ids[1]", "-1", "30522"}};
  kiln_tensor *table = kt_tensor(env, env->dtype, 2, ts), *out = kt_tensor(env, env->dtype, 2, os);
  kt_random(env, table, -1.0, 1.0);
  for (int k = 0; k < 2; k++) {
    kiln_tensor *ids = kx_ids(env, 1, is, bad_ids[k]);
    kt_snapshot snap = kt_fill_pattern(env, out);
    kiln_status s = kiln_embedding(env->ctx, table, ids, out);
    if (env->device == KILN_DEVICE_CUDA) { /* reported by the next sync (kiln.h) */
      if (s == KILN_OK)
        s = kiln_sync(env->ctx);
    } else {
      kt_expect_unchanged(env, &snap, "out");
    }
    const char *const list[4] = {needles[k][0], needles[k][1], needles[k][2], NULL};
    kt_expect_error(env, s, KILN_ERR_INVALID_ARGUMENT, "kiln_embedding", "ids", list);
  }
}

enum { TABLE, IDS, OUT };
#define R(role) KT_ROLE(role)
#define T1(a) {1, {a}}
#define T2(a, b) {2, {a, b}}
#define T3(a, b, c) {3, {a, b, c}}
#define OKS T2(17, 8), T1(5), T2(5, 8)

typedef struct emb_bad {
  const char *name;
  kx_setup s;
  kiln_status want;
  const char *arg;
} emb_bad;

/* clang-format off */
static const emb_bad bad[] = {
  {"table_1d", {.spec = {T1(17), T1(5), T2(5, 8)}, .i32_roles = R(IDS)}, KILN_ERR_SHAPE, "table"},
  {"out_d", {.spec = {T2(17, 8), T1(5), T2(5, 7)}, .i32_roles = R(IDS)}, KILN_ERR_SHAPE, "out"},
  {"out_rows", {.spec = {T2(17, 8), T1(5), T2(6, 8)}, .i32_roles = R(IDS)}, KILN_ERR_SHAPE, "out"},
  {"out_flat", {.spec = {T2(17, 8), T2(2, 3), T2(6, 8)}, .i32_roles = R(IDS)}, KILN_ERR_SHAPE, "out"},
  {"ids_too_many_dims", {.spec = {T2(17, 8), {4, {1, 1, 1, 5}}, T2(5, 8)}, .i32_roles = R(IDS)}, KILN_ERR_SHAPE, "ids"},
  {"ids_f32", {.spec = {OKS}, .i32_roles = R(IDS), .odd_dtype = R(IDS)}, KILN_ERR_DTYPE, "ids"},
  {"table_i32", {.spec = {OKS}, .i32_roles = R(IDS), .odd_dtype = R(TABLE), .odd_i32 = 1}, KILN_ERR_DTYPE, "table"},
  {"dtype_out", {.spec = {OKS}, .i32_roles = R(IDS), .odd_dtype = R(OUT)}, KILN_ERR_DTYPE, "out"},
  {"null_ctx", {.spec = {OKS}, .i32_roles = R(IDS), .null = KX_CTX}, KILN_ERR_INVALID_ARGUMENT, "ctx"},
  {"null_ids", {.spec = {OKS}, .i32_roles = R(IDS), .null = R(IDS)}, KILN_ERR_INVALID_ARGUMENT, "ids"},
  {"foreign_table", {.spec = {OKS}, .i32_roles = R(IDS), .foreign = R(TABLE)}, KILN_ERR_DEVICE, "table"},
  {"out_is_table", {.spec = {T2(5, 8), T1(5), T2(5, 8)}, .i32_roles = R(IDS), .out_is = TABLE + 1}, KILN_ERR_INVALID_ARGUMENT, "table"},
};
/* clang-format on */

static void test_bad(kt_env *env) {
  const emb_bad *c = env->param;
  kx_operands o = kx_bad_operands(env, &c->s, OUT);
  kx_bad_check(env, &c->s, &o, kiln_embedding(o.ctx, o.t[TABLE], o.t[IDS], o.t[OUT]), c->want,
               "kiln_embedding", c->arg);
}

int main(void) {
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
      kt_add(test_case, &cases[i], dtypes[d], "embedding_%s_%s", kiln_dtype_name(dtypes[d]),
             cases[i].name);
    kt_add(test_bad_id, NULL, dtypes[d], "embedding_error_id_out_of_range_%s",
           kiln_dtype_name(dtypes[d]));
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    kt_add(test_bad, &bad[i], KILN_F32, "embedding_error_%s", bad[i].name);
  return kt_run("embedding");
}
