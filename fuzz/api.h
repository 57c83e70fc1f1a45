/*
 * The API fuzz harness (fuzz_api.c under libFuzzer, api_replay.c without):
 * an input is a small program against include/kiln.h
 * (contexts, tensors made, wrapped over an arena and over each other, and
 * filled with edge bit patterns, then ops with fuzzed operands and
 * parameters, sometimes inside a graph). Every call is checked against the
 * header's failing-call contract: a failing call leaves every tensor byte
 * for byte as it was, a non-empty kiln_last_error() naming a kiln
 * function, and *out NULL. A broken invariant aborts (as a sanitizer
 * report does), so libFuzzer keeps the input.
 *
 * Ops are rows of a table (api_ops.c): a new op is one generator that
 * picks its operands and parameters from the program and makes the call.
 */
#ifndef KILN_FUZZ_API_H
#define KILN_FUZZ_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

enum { FZ_CONTEXTS = 2, FZ_TENSORS = 8, FZ_GRAPHS = 2 };
/* Bytes of caller memory per context that tensors may be wrapped over. */
enum { FZ_ARENA_BYTES = 1 << 16 };
/* Largest tensor the harness asks kiln_tensor_create to allocate; larger
 * valid shapes are skipped (an allocation that succeeds is no finding). */
enum { FZ_MAX_BYTES = 1 << 16 };

typedef struct fz_reader {
  const uint8_t *data;
  size_t size, pos;
} fz_reader;

typedef struct fz_state {
  fz_reader in;
  kiln_context *ctx[FZ_CONTEXTS];
  kiln_tensor *arena_owner[FZ_CONTEXTS]; /* GPU contexts: the arena is a tensor */
  unsigned char *arena[FZ_CONTEXTS];     /* its memory (host or device) */
  kiln_tensor *t[FZ_TENSORS];
  kiln_graph *graph[FZ_GRAPHS];
  bool capturing[FZ_CONTEXTS];
  int custom_calls;
} fz_state;

/* The next byte of the program (0 past its end), and wider values. */
uint8_t fz_u8(fz_state *f);
uint16_t fz_u16(fz_state *f);
bool fz_done(const fz_state *f);

/* Values chosen by one byte from tables of ordinary and edge values. */
float fz_float(fz_state *f);
int fz_int(fz_state *f);
/* 0 or 1 mostly; now and then -1, 2 or more (a bad flag). */
int fz_flag(fz_state *f);
int64_t fz_dim(fz_state *f);
int64_t fz_i64(fz_state *f);
/* A context (of the program's), and a tensor slot's tensor: may be NULL. */
kiln_context *fz_ctx(fz_state *f);
kiln_tensor *fz_tensor(fz_state *f);

/* Runs call under the failing-call contract: the tensors' bytes are
 * snapshot first and, if the call fails, compared; out (may be NULL) is the
 * call's *out, set to a non-NULL sentinel first and required NULL after a
 * failure. name is for the abort message. */
typedef kiln_status (*fz_call)(fz_state *f, void *args, void **out);
kiln_status fz_checked(fz_state *f, const char *name, fz_call call, void *args, void **out);

/* An operand's shape in terms of four fuzzed sizes d[0..3] (indices 0-3),
 * or 4: 2 * d[1] (an even head or rotary dim), 5: 8, 6: d[3] + 2, 7: 1.
 * ndim 0: the operand is absent. i32: an id or length tensor. */
typedef struct fz_operand {
  int ndim;
  int dims[4];
  bool i32;
} fz_operand;

/* One op generator: reads its operands and parameters, makes the call
 * through fz_checked. shapes: the operands of a call that fits, in the
 * order run reads them, for the program command that first makes such
 * operands (so deep calls are not left to chance). */
typedef struct fz_op {
  const char *name;
  void (*run)(fz_state *f);
  fz_operand shapes[8];
} fz_op;
extern const fz_op kiln_fz_ops[];
extern const int kiln_fz_op_count;

/* Runs one program (api_program.c); both entry points call it. */
void kiln_fz_run(const uint8_t *data, size_t size);

#endif /* KILN_FUZZ_API_H */
