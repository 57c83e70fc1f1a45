/*
 * The harness every kiln test executable links: backends, registration,
 * seeds, host buffers, and the checks that turn a result into pass or fail.
 *
 * A test file keeps its cases as data (the tables in cases.c or its own) and
 * registers one entry per case (and dtype). kt_run() runs every entry on
 * every backend the library has, as cmocka tests named "<backend>/<entry>":
 * the CPU always, CUDA when kiln_device_count(KILN_DEVICE_CUDA) > 0. Without
 * a GPU the "cuda/..." tests are still listed, and reported as SKIPPED, so a
 * reader of the log sees what did not run.
 *
 * Environment:
 *   KILN_TEST_SEED=n    fix the random seed (it is printed at the start and
 *                       with every failure, so a failure can be replayed)
 *   KILN_TEST_QUICK=1   shrink the largest cases (valgrind runs)
 *   KILN_TEST_FILTER=p  run only the tests whose names match p ('*' and '?')
 *   KILN_TEST_VERBOSE=1 print how close each numerical check came to its
 *                       tolerance (for judging margins on a new device)
 *
 * Everything made through kt_tensor, kt_context, kt_graph and kt_alloc is
 * freed after each test, even after a failed assertion (cmocka leaves the
 * test function with longjmp, so cleanup at the end of a test would leak).
 */
#ifndef KILN_TESTS_HARNESS_H
#define KILN_TESTS_HARNESS_H

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>

#include "kiln.h"

typedef struct kt_env {
  kiln_context *ctx;   /* the backend's context, shared by its tests; NULL on host */
  kiln_device device;  /* KILN_DEVICE_CPU or KILN_DEVICE_CUDA (AUTO on host) */
  const char *backend; /* "cpu", "cuda", or "host" for tests without a device */
  const char *name;    /* the whole test name, "cpu/matmul_f16_batched3_b" */
  kiln_dtype dtype;    /* the dtype the entry was registered with */
  const void *param;   /* the case row the entry was registered with */
  uint64_t seed;       /* this test's seed, derived from the run's seed and the name */
  uint64_t rng;        /* generator state */
} kt_env;

typedef void (*kt_fn)(kt_env *env);

/* ------------------------------------------------------------ running */

/* One test per backend, named "<backend>/<printf(fmt, ...)>". */
void kt_add(kt_fn fn, const void *param, kiln_dtype dtype, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* One test without a device (converters, status strings), named "host/...". */
void kt_add_host(kt_fn fn, const void *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Runs everything registered; returns the number of failed tests. */
int kt_run(const char *group);

bool kt_quick(void);
/* KILN_TEST_VERBOSE=1: print how close each check came to its tolerance. */
bool kt_verbose(void);

/* Fails the current test with a message and the line that replays it. */
#define KT_FAIL(env, ...) kt_fail_at((env), __FILE__, __LINE__, __VA_ARGS__)
void kt_fail_at(const kt_env *env, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* KILN_ERR_UNSUPPORTED is a documented answer to a valid request ("a
 * valid request this backend cannot do"): the test reports SKIPPED with the
 * library's reason instead of failing or vanishing. */
void kt_skip_if_unsupported(const kt_env *env, kiln_status s);
/* Fails unless s is KILN_OK, quoting kiln_last_error(). */
#define KT_OK(env, s) kt_ok_at((env), (s), #s, __FILE__, __LINE__)
void kt_ok_at(const kt_env *env, kiln_status s, const char *call, const char *file, int line);

/* ---------------------------------- resources freed after every test */

void *kt_alloc(size_t nbytes); /* zeroed host memory */
kiln_tensor *kt_tensor(kt_env *env, kiln_dtype dtype, int ndim, const int64_t *shape);
kiln_tensor *kt_tensor_on(kt_env *env, kiln_context *ctx, kiln_dtype dtype, int ndim,
                          const int64_t *shape);
/* A second context of env's kind (for "tensors of another context"). */
kiln_context *kt_context(kt_env *env);
/* A new context on device 0 of the given kind. */
kiln_context *kt_context_of(kt_env *env, kiln_device device);
/* Tracks a graph so it is destroyed after the test. */
kiln_graph *kt_track_graph(kiln_graph *graph);
/* Tracks a tensor made elsewhere (kiln_tensor_wrap) the same way. */
kiln_tensor *kt_track_tensor(kiln_tensor *t);

/* --------------------------------------------------- data in and out */

uint64_t kt_rand(kt_env *env);
double kt_uniform(kt_env *env, double lo, double hi);

/* The value of a 16-bit word, decoded here from its bit fields so the
 * reference never trusts the library's own converters. */
double kt_f16_value(uint16_t h);
double kt_bf16_value(uint16_t h);

/* Rounds vals[0..numel) to t's dtype with the library's converters, writes
 * them, and replaces vals with exactly what t now holds. */
void kt_write(kt_env *env, kiln_tensor *t, double *vals);
/* Fresh uniform values in [lo, hi), written to t; returns what t holds. */
double *kt_random(kt_env *env, kiln_tensor *t, double lo, double hi);
/* Reads t and decodes it to doubles. */
double *kt_read(kt_env *env, const kiln_tensor *t);
/* Fills t with a quiet-NaN bit pattern, so an element the op forgets to
 * write shows up as NaN. */
void kt_poison(kt_env *env, kiln_tensor *t);

/* ------------------------------------------------------------- checks */

/* Compares out with the float64 reference, row by row (rows of row_len
 * elements; row_len = n compares the whole thing as one). First every out
 * element whose ref is finite must be finite; then the error of each row,
 * max|out - ref| / max(max|ref|, tiny), must be within row_tol[row] (or tol
 * when row_tol is NULL). */
void kt_check_close(const kt_env *env, const char *what, const double *out, const double *ref,
                    int64_t n, int64_t row_len, const double *row_tol, double tol);

/* t still holds exactly vals (an op must not write to its inputs). */
void kt_expect_same(kt_env *env, const char *what, const kiln_tensor *t, const double *vals);

/* "[64, 32]", the way the library prints shapes in its messages. */
const char *kt_shape_str(int ndim, const int64_t *shape);
const char *kt_tensor_shape_str(const kiln_tensor *t);

/* The failing-call contract: got == want, and kiln_last_error() names fn,
 * the argument arg (a whole word; NULL: none) and contains each of the
 * NULL-terminated strings in needles (shapes; may be NULL). */
void kt_expect_error(const kt_env *env, kiln_status got, kiln_status want, const char *fn,
                     const char *arg, const char *const *needles);

/* A tensor filled with a fixed byte pattern, and the check that a failing
 * call left it alone. */
typedef struct kt_snapshot {
  const kiln_tensor *t;
  unsigned char *bytes;
  size_t nbytes;
} kt_snapshot;
kt_snapshot kt_fill_pattern(kt_env *env, kiln_tensor *t);
void kt_expect_unchanged(const kt_env *env, const kt_snapshot *snap, const char *what);

#endif /* KILN_TESTS_HARNESS_H */
