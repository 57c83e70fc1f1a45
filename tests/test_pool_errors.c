/* kiln_mean_pool's failing calls: one row per rule of kiln.h (layouts,
 * shapes, dtypes, the lengths tensor, contexts, NULL, the flag, aliasing),
 * each checked for its status, a message naming the function and the
 * argument, and every operand left as it was. The lengths' contents are
 * test_pool.c's. */
#include "harness_ops.h"

#define R(role) KT_ROLE(role)
#define T1(a) {1, {a}}
#define T2(a, b) {2, {a, b}}
#define T3(a, b, c) {3, {a, b, c}}
#define T4(a, b, c, d) {4, {a, b, c, d}}

enum { X, LEN, OUT };
/* varlen: T 9 over B 3, H 17; padded: B 2, S 5, H 17 */
#define VAR T2(9, 17), T1(4), T2(3, 17)
#define PAD T3(2, 5, 17), T1(2), T2(2, 17)

typedef struct pool_bad {
  const char *name;
  kx_setup s;
  int normalize;
  kiln_status want;
  const char *arg;
} pool_bad;

/* clang-format off */
static const pool_bad cases[] = {
  /* layouts and shapes */
  {"x_1d", {.spec = {T1(17), T1(2), T2(1, 17)}, .i32_roles = R(LEN)}, 0, KILN_ERR_SHAPE, "x"},
  {"x_4d", {.spec = {T4(2, 5, 1, 17), T1(2), T2(2, 17)}, .i32_roles = R(LEN)}, 0, KILN_ERR_SHAPE, "x"},
  {"varlen_without_cu_seqlens", {.spec = {VAR}, .null = R(LEN), .i32_roles = R(LEN)}, 0, KILN_ERR_INVALID_ARGUMENT, "cu_seqlens"},
  {"cu_seqlens_2d", {.spec = {T2(9, 17), T2(1, 4), T2(3, 17)}, .i32_roles = R(LEN)}, 0, KILN_ERR_SHAPE, "cu_seqlens"},
  {"cu_seqlens_empty", {.spec = {T2(9, 17), T1(0), T2(3, 17)}, .i32_roles = R(LEN)}, 0, KILN_ERR_SHAPE, "cu_seqlens"},
  {"seqlens_length", {.spec = {T3(2, 5, 17), T1(3), T2(2, 17)}, .i32_roles = R(LEN)}, 0, KILN_ERR_SHAPE, "seqlens"},
  {"seqlens_2d", {.spec = {T3(2, 5, 17), T2(2, 1), T2(2, 17)}, .i32_roles = R(LEN)}, 0, KILN_ERR_SHAPE, "seqlens"},
  {"out_rows_varlen", {.spec = {T2(9, 17), T1(4), T2(4, 17)}, .i32_roles = R(LEN)}, 0, KILN_ERR_SHAPE, "out"},
  {"out_cols", {.spec = {T2(9, 17), T1(4), T2(3, 16)}, .i32_roles = R(LEN)}, 0, KILN_ERR_SHAPE, "out"},
  {"out_3d", {.spec = {T2(9, 17), T1(4), T3(3, 1, 17)}, .i32_roles = R(LEN)}, 0, KILN_ERR_SHAPE, "out"},
  {"out_rows_padded", {.spec = {T3(2, 5, 17), {0}, T2(5, 17)}}, 0, KILN_ERR_SHAPE, "out"},
  /* dtypes */
  {"dtype_out", {.spec = {VAR}, .odd_dtype = R(OUT), .i32_roles = R(LEN)}, 0, KILN_ERR_DTYPE, "out"},
  {"i32_x", {.spec = {VAR}, .odd_dtype = R(X), .odd_i32 = 1, .i32_roles = R(LEN)}, 0, KILN_ERR_DTYPE, "x"},
  {"cu_seqlens_not_i32", {.spec = {VAR}, .odd_dtype = R(LEN), .i32_roles = R(LEN)}, 0, KILN_ERR_DTYPE, "cu_seqlens"},
  {"seqlens_not_i32", {.spec = {PAD}, .odd_dtype = R(LEN), .i32_roles = R(LEN)}, 0, KILN_ERR_DTYPE, "seqlens"},
  /* NULL, other contexts */
  {"null_ctx", {.spec = {VAR}, .null = KX_CTX, .i32_roles = R(LEN)}, 0, KILN_ERR_INVALID_ARGUMENT, "ctx"},
  {"null_x", {.spec = {VAR}, .null = R(X), .i32_roles = R(LEN)}, 0, KILN_ERR_INVALID_ARGUMENT, "x"},
  {"null_out", {.spec = {VAR}, .null = R(OUT), .i32_roles = R(LEN)}, 0, KILN_ERR_INVALID_ARGUMENT, "out"},
  {"foreign_x", {.spec = {VAR}, .foreign = R(X), .i32_roles = R(LEN)}, 0, KILN_ERR_DEVICE, "x"},
  {"foreign_cu_seqlens", {.spec = {VAR}, .foreign = R(LEN), .i32_roles = R(LEN)}, 0, KILN_ERR_DEVICE, "cu_seqlens"},
  {"foreign_seqlens", {.spec = {PAD}, .foreign = R(LEN), .i32_roles = R(LEN)}, 0, KILN_ERR_DEVICE, "seqlens"},
  {"foreign_out", {.spec = {VAR}, .foreign = R(OUT), .i32_roles = R(LEN)}, 0, KILN_ERR_DEVICE, "out"},
  /* the flag, aliasing */
  {"normalize_2", {.spec = {VAR}, .i32_roles = R(LEN)}, 2, KILN_ERR_INVALID_ARGUMENT, "normalize"},
  {"normalize_negative", {.spec = {PAD}, .i32_roles = R(LEN)}, -1, KILN_ERR_INVALID_ARGUMENT, "normalize"},
  {"out_is_x", {.spec = {T2(3, 17), T1(4), T2(3, 17)}, .out_is = X + 1, .i32_roles = R(LEN)}, 0, KILN_ERR_INVALID_ARGUMENT, "x"},
};
/* clang-format on */

static void test_bad_call(kt_env *env) {
  const pool_bad *c = env->param;
  kx_operands o = kx_bad_operands(env, &c->s, OUT);
  kiln_status s = kiln_mean_pool(o.ctx, o.t[X], o.t[LEN], c->normalize, o.t[OUT]);
  kx_bad_check(env, &c->s, &o, s, c->want, "kiln_mean_pool", c->arg);
}

void pool_register_errors(void);
void pool_register_errors(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    kt_add(test_bad_call, &cases[i], KILN_F32, "mean_pool_error_%s", cases[i].name);
}
