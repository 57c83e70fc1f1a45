/* The program interpreter and the contract checks of the API harness
 * (api.h). Public API only: nothing here includes a kiln source header. */
#include "api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ reading */

uint8_t fz_u8(fz_state *f) { return f->in.pos < f->in.size ? f->in.data[f->in.pos++] : 0; }
uint16_t fz_u16(fz_state *f) { return (uint16_t)(fz_u8(f) | fz_u8(f) << 8); }
bool fz_done(const fz_state *f) { return f->in.pos >= f->in.size; }

/* A quarter of the bytes pick an ordinary value, so calls get past the
 * parameter checks often enough to reach the kernels. */
float fz_float(fz_state *f) {
  static const float sane[8] = {1.0f, 0.5f, 2.0f, 1e-5f, 1e-6f, 0.25f, -1.0f, 10000.0f};
  static const float table[] = {1.0f,   0.5f,     2.0f,     -1.0f,    0.0f,     -0.0f,
                                1e-6f,  1e-5f,    10000.0f, 3e38f,    INFINITY, -INFINITY,
                                NAN,    -NAN,     1e-45f,   0.125f,   -3.0f,    65504.0f,
                                1e-30f, 1e30f};
  const uint8_t b = fz_u8(f);
  if (b < 64)
    return sane[b % 8];
  if (b - 64 < (int)(sizeof table / sizeof table[0]))
    return table[b - 64];
  return (float)(b - 160) / 16.0f;
}

int fz_flag(fz_state *f) {
  const uint8_t b = fz_u8(f);
  return b < 224 ? b & 1 : b == 255 ? -1 : b - 222;
}

int fz_int(fz_state *f) {
  static const int table[] = {0, 1, -1, 2, 3, 4, 7, 8, 16, -2, 1 << 30, -(1 << 30), 2147483647,
                              (-2147483647 - 1)};
  const uint8_t b = fz_u8(f);
  return b < sizeof table / sizeof table[0] ? table[b] : b % 9;
}

int64_t fz_dim(fz_state *f) {
  static const int64_t table[] = {0,  1,          2,          3,          4,
                                  5,  8,          16,         17,         33,
                                  -1, INT64_MIN,  1LL << 40,  1LL << 62,  INT64_MAX,
                                  64, (1LL << 31) + 1};
  const uint8_t b = fz_u8(f);
  return b < sizeof table / sizeof table[0] ? table[b] : 1 + b % 12;
}

int64_t fz_i64(fz_state *f) {
  static const int64_t table[] = {0, 1, -1, 7, INT64_MAX, INT64_MAX - 1, INT64_MIN, 1 << 24,
                                  (1LL << 24) + 1, 100000, INT64_MAX - 16};
  const uint8_t b = fz_u8(f);
  return b < sizeof table / sizeof table[0] ? table[b] : b;
}

kiln_context *fz_ctx(fz_state *f) {
  const uint8_t b = fz_u8(f);
  return b == 255 ? NULL : f->ctx[b % FZ_CONTEXTS];
}

kiln_tensor *fz_tensor(fz_state *f) {
  const uint8_t b = fz_u8(f);
  return b % 16 >= FZ_TENSORS + 6 ? NULL : f->t[b % FZ_TENSORS];
}

/* ------------------------------------------------------ the contract */

static void broken(const char *name, const char *what) {
  fprintf(stderr, "kiln fuzz: %s: contract broken: %s (last error: \"%s\")\n", name, what,
          kiln_last_error());
  abort();
}

/* Which context a tensor lives on, by pointer; -1: not the program's. */
static int ctx_index(const fz_state *f, const kiln_context *ctx) {
  for (int i = 0; i < FZ_CONTEXTS; i++)
    if (f->ctx[i] == ctx)
      return i;
  return -1;
}

/* Copies t's bytes to dst; false when they cannot be read now (a GPU
 * context that is capturing). */
static bool grab(const fz_state *f, const kiln_tensor *t, unsigned char *dst) {
  const size_t n = kiln_tensor_nbytes(t);
  const int c = ctx_index(f, kiln_tensor_context(t));
  if (c < 0 || n == 0)
    return true;
  if (kiln_context_device(f->ctx[c]) == KILN_DEVICE_CPU) {
    memcpy(dst, kiln_tensor_data(t), n);
    return true;
  }
  if (f->capturing[c])
    return false;
  /* The read may report a deferred failure; it copies the data anyway. */
  const kiln_status ignored = kiln_tensor_read(t, dst, n);
  (void)ignored;
  return true;
}

/* Everything a caller can see: the tensors the program made and the
 * arenas that wrapped tensors lie in. */
typedef struct snapshot {
  unsigned char *bytes[FZ_TENSORS + FZ_CONTEXTS];
  bool valid[FZ_TENSORS + FZ_CONTEXTS];
} snapshot;

static const kiln_tensor *visible(const fz_state *f, int i, bool *owned) {
  if (i < FZ_TENSORS) {
    const kiln_tensor *t = f->t[i];
    /* A wrapped tensor lies in an arena, which is snapshot whole. */
    const unsigned char *d = t ? kiln_tensor_data(t) : NULL;
    for (int c = 0; t && c < FZ_CONTEXTS; c++)
      if (f->arena[c] && d >= f->arena[c] && d < f->arena[c] + FZ_ARENA_BYTES)
        return NULL;
    *owned = true;
    return t;
  }
  *owned = false;
  if (f->arena_owner[i - FZ_TENSORS])
    return f->arena_owner[i - FZ_TENSORS];
  return NULL;
}

static void take(const fz_state *f, snapshot *s) {
  for (int i = 0; i < FZ_TENSORS + FZ_CONTEXTS; i++) {
    bool owned;
    const kiln_tensor *t = visible(f, i, &owned);
    s->bytes[i] = NULL;
    s->valid[i] = false;
    if (t) {
      s->bytes[i] = malloc(kiln_tensor_nbytes(t) + 1);
      s->valid[i] = s->bytes[i] && grab(f, t, s->bytes[i]);
    } else if (i >= FZ_TENSORS && f->arena[i - FZ_TENSORS]) { /* a host arena */
      s->bytes[i] = malloc(FZ_ARENA_BYTES);
      if (s->bytes[i])
        memcpy(s->bytes[i], f->arena[i - FZ_TENSORS], FZ_ARENA_BYTES);
      s->valid[i] = s->bytes[i] != NULL;
    }
  }
}

static void compare(const fz_state *f, const snapshot *s, const char *name) {
  for (int i = 0; i < FZ_TENSORS + FZ_CONTEXTS; i++) {
    if (!s->valid[i])
      continue;
    bool owned;
    const kiln_tensor *t = visible(f, i, &owned);
    size_t n = t ? kiln_tensor_nbytes(t) : FZ_ARENA_BYTES;
    unsigned char *now = malloc(n + 1);
    if (!now)
      continue;
    bool same = true;
    if (t) {
      if (grab(f, t, now))
        same = memcmp(now, s->bytes[i], n) == 0;
    } else {
      same = memcmp(f->arena[i - FZ_TENSORS], s->bytes[i], n) == 0;
    }
    free(now);
    if (!same)
      broken(name, i < FZ_TENSORS ? "a failing call wrote a tensor"
                                  : "a failing call wrote a wrapped tensor's memory");
  }
}

static void drop(snapshot *s) {
  for (int i = 0; i < FZ_TENSORS + FZ_CONTEXTS; i++)
    free(s->bytes[i]);
}

static char sentinel;

kiln_status fz_checked(fz_state *f, const char *name, fz_call call, void *args, void **out) {
  snapshot s;
  take(f, &s);
  if (out)
    *out = &sentinel;
  const kiln_status st = call(f, args, out);
  static int trace = -1; /* KILN_FUZZ_TRACE=1: every call and its answer */
  if (trace < 0)
    trace = getenv("KILN_FUZZ_TRACE") != NULL;
  if (trace)
    fprintf(stderr, "%s: %s%s%s\n", name, kiln_status_string(st), st ? ": " : "",
            st ? kiln_last_error() : "");
  if (st != KILN_OK) {
    const char *e = kiln_last_error();
    if (!e || !e[0])
      broken(name, "a failing call left kiln_last_error() empty");
    if (!strstr(e, "kiln_"))
      broken(name, "kiln_last_error() names no kiln function");
    if (out && *out)
      broken(name, "a failing call left *out non-NULL");
    compare(f, &s, name);
  } else if (out && *out == &sentinel) {
    broken(name, "a successful call did not set *out");
  }
  drop(&s);
  return st;
}

/* ---------------------------------------------------------- commands */

static void destroy_graphs(fz_state *f) {
  for (int i = 0; i < FZ_GRAPHS; i++) {
    kiln_graph_destroy(f->graph[i]);
    f->graph[i] = NULL;
  }
}

/* A tensor must outlive the graphs that recorded it, and the captures
 * still recording. */
static void destroy_tensor(fz_state *f, int slot) {
  if (!f->t[slot])
    return;
  destroy_graphs(f);
  for (int c = 0; c < FZ_CONTEXTS; c++)
    if (f->capturing[c]) {
      kiln_graph *g = NULL;
      if (kiln_graph_end(f->ctx[c], &g) == KILN_OK)
        kiln_graph_destroy(g);
      f->capturing[c] = false;
    }
  kiln_tensor_destroy(f->t[slot]);
  f->t[slot] = NULL;
}

/* A shape from the program: ndim may be invalid (-1..5), dims any. */
typedef struct shape_args {
  kiln_context *ctx;
  kiln_dtype dtype;
  int ndim;
  int64_t shape[8];
  void *data;
} shape_args;

static void read_shape(fz_state *f, shape_args *a) {
  a->ctx = fz_ctx(f);
  const uint8_t d = fz_u8(f);
  a->dtype = d < 16 ? (kiln_dtype)(d % 4) : d < 20 ? (kiln_dtype)(d - 12) : (kiln_dtype)-1;
  a->ndim = fz_u8(f) % 7 - 1;
  for (int i = 0; i < 8; i++)
    a->shape[i] = i < 5 && i < a->ndim ? fz_dim(f) : 1;
}

/* The bytes the shape would take, or -1 when it is invalid (negative dim,
 * bad ndim or dtype, or a size past what memory can address). */
static int64_t shape_bytes(const shape_args *a) {
  const size_t es = kiln_dtype_size(a->dtype);
  if (es == 0 || a->ndim < 1 || a->ndim > KILN_MAX_DIMS)
    return -1;
  int64_t n = 1;
  bool empty = false;
  for (int i = 0; i < a->ndim; i++) {
    if (a->shape[i] < 0)
      return -1;
    empty |= a->shape[i] == 0;
  }
  if (empty)
    return 0;
  for (int i = 0; i < a->ndim; i++) {
    if (n > INT64_MAX / (int64_t)es / a->shape[i])
      return -1;
    n *= a->shape[i];
  }
  return n * (int64_t)es;
}

static kiln_status call_create(fz_state *f, void *args, void **out) {
  (void)f;
  shape_args *a = args;
  return kiln_tensor_create(a->ctx, a->dtype, a->ndim, a->shape, (kiln_tensor **)out);
}

static kiln_status call_wrap(fz_state *f, void *args, void **out) {
  (void)f;
  shape_args *a = args;
  return kiln_tensor_wrap(a->ctx, a->dtype, a->ndim, a->shape, a->data, (kiln_tensor **)out);
}

static void cmd_create(fz_state *f) {
  const int slot = fz_u8(f) % FZ_TENSORS;
  shape_args a;
  read_shape(f, &a);
  const int64_t bytes = shape_bytes(&a);
  if (bytes > FZ_MAX_BYTES)
    return; /* valid but too large to be worth allocating */
  kiln_tensor *t = NULL;
  if (fz_checked(f, "kiln_tensor_create", call_create, &a, (void **)&t) == KILN_OK) {
    destroy_tensor(f, slot);
    f->t[slot] = t;
  }
}

/* Over the arena at a fuzzed offset (misaligned ones included), or over
 * NULL; only where the tensor fits, since wrapping memory the caller does
 * not own is the caller's bug, not kiln's. */
static void cmd_wrap(fz_state *f) {
  const int slot = fz_u8(f) % FZ_TENSORS;
  shape_args a;
  read_shape(f, &a);
  const unsigned offset = fz_u16(f) % FZ_ARENA_BYTES;
  const bool null = fz_u8(f) % 8 == 0;
  const int c = ctx_index(f, a.ctx);
  const int64_t bytes = shape_bytes(&a);
  if (!null && (c < 0 || bytes < 0 || bytes > FZ_ARENA_BYTES - (int64_t)offset))
    return;
  if (null && bytes > 0)
    return; /* NULL with a non-empty shape is refused; covered by the tests */
  a.data = null ? NULL : f->arena[c] + offset;
  kiln_tensor *t = NULL;
  if (fz_checked(f, "kiln_tensor_wrap", call_wrap, &a, (void **)&t) == KILN_OK) {
    destroy_tensor(f, slot);
    f->t[slot] = t;
  }
}

static void put_value(kiln_dtype dtype, unsigned char *dst, size_t i, float v, uint8_t raw) {
  if (dtype == KILN_I32) {
    static const int32_t ids[] = {0, 1, 2, 3, 4, 5, -1, 100000, 2147483647, (-2147483647 - 1)};
    const int32_t id = ids[raw % (sizeof ids / sizeof ids[0])];
    memcpy(dst + 4 * i, &id, 4);
  } else if (dtype == KILN_F32) {
    memcpy(dst + 4 * i, &v, 4);
  } else {
    uint16_t h;
    if (dtype == KILN_F16)
      kiln_f32_to_f16(&v, &h, 1);
    else
      kiln_f32_to_bf16(&v, &h, 1);
    if (raw == 0xfe) /* a NaN with the sign bit set, raw */
      h = dtype == KILN_F16 ? 0xfe01 : 0xffc1;
    memcpy(dst + 2 * i, &h, 2);
  }
}

typedef struct write_args {
  kiln_tensor *t;
  const void *src;
  size_t nbytes;
} write_args;

static kiln_status call_write(fz_state *f, void *args, void **out) {
  (void)f;
  (void)out;
  write_args *a = args;
  return kiln_tensor_write(a->t, a->src, a->nbytes);
}

/* Values from a short pattern of the program, repeated: edge values (NaN
 * of both signs, infinities, huge, tiny) among ordinary ones. */
static void cmd_fill(fz_state *f) {
  kiln_tensor *t = fz_tensor(f);
  const uint8_t len = 1 + fz_u8(f) % 8, wrong = fz_u8(f);
  float pattern[8];
  uint8_t raw[8];
  for (int i = 0; i < len; i++) {
    raw[i] = fz_u8(f);
    pattern[i] = raw[i] == 0xfe ? -NAN : fz_float(f);
  }
  if (!t)
    return;
  const size_t nb = kiln_tensor_nbytes(t), es = kiln_dtype_size(kiln_tensor_dtype(t));
  unsigned char *buf = malloc(nb + 8);
  if (!buf)
    return;
  for (size_t i = 0; i < nb / es; i++)
    put_value(kiln_tensor_dtype(t), buf, i, pattern[i % len], raw[i % len]);
  write_args a = {t, buf, wrong % 16 == 0 ? nb + 2 : nb};
  (void)fz_checked(f, "kiln_tensor_write", call_write, &a, NULL);
  free(buf);
}

static kiln_status call_read(fz_state *f, void *args, void **out) {
  (void)f;
  (void)out;
  write_args *a = args;
  return kiln_tensor_read(a->t, (void *)a->src, a->nbytes);
}

/* A read with the right size may report a replay's deferred failure and
 * still copy (kiln.h); one with the wrong size must fail and copy nothing. */
static void cmd_read(fz_state *f) {
  kiln_tensor *t = fz_tensor(f);
  const bool wrong = fz_u8(f) % 8 == 0;
  if (!t)
    return;
  const size_t nb = kiln_tensor_nbytes(t) + (wrong ? 1 : 0);
  unsigned char *buf = malloc(nb + 1), *copy = malloc(nb + 1);
  if (!buf || !copy) {
    free(buf);
    free(copy);
    return;
  }
  memset(buf, 0xa5, nb);
  memcpy(copy, buf, nb);
  write_args a = {t, buf, nb};
  const kiln_status st = fz_checked(f, "kiln_tensor_read", call_read, &a, NULL);
  if (wrong && (st == KILN_OK || memcmp(buf, copy, nb) != 0))
    broken("kiln_tensor_read", "a read of the wrong size succeeded or wrote dst");
  free(buf);
  free(copy);
}

static kiln_status call_graph_end(fz_state *f, void *args, void **out) {
  kiln_context *ctx = args;
  const kiln_status st = kiln_graph_end(ctx, (kiln_graph **)out);
  const int c = ctx_index(f, ctx);
  if (c >= 0)
    f->capturing[c] = false; /* the capture ends whether or not it succeeds */
  return st;
}

static kiln_status call_graph_begin(fz_state *f, void *args, void **out) {
  (void)out;
  kiln_context *ctx = args;
  const kiln_status st = kiln_graph_begin(ctx);
  const int c = ctx_index(f, ctx);
  if (st == KILN_OK && c >= 0)
    f->capturing[c] = true;
  return st;
}

typedef struct run_args {
  kiln_context *ctx;
  kiln_graph *g;
} run_args;

static kiln_status call_graph_run(fz_state *f, void *args, void **out) {
  (void)f;
  (void)out;
  run_args *a = args;
  return kiln_graph_run(a->ctx, a->g);
}

static kiln_status call_sync(fz_state *f, void *args, void **out) {
  (void)f;
  (void)out;
  return kiln_sync(args);
}

static void cmd_graph(fz_state *f) {
  const uint8_t what = fz_u8(f) % 4;
  kiln_context *ctx = fz_ctx(f);
  const int slot = fz_u8(f) % FZ_GRAPHS;
  if (what == 0) {
    (void)fz_checked(f, "kiln_graph_begin", call_graph_begin, ctx, NULL);
  } else if (what == 1) {
    kiln_graph *g = NULL;
    if (fz_checked(f, "kiln_graph_end", call_graph_end, ctx, (void **)&g) == KILN_OK) {
      kiln_graph_destroy(f->graph[slot]);
      f->graph[slot] = g;
    }
  } else if (what == 2) {
    run_args a = {ctx, f->graph[slot]};
    (void)fz_checked(f, "kiln_graph_run", call_graph_run, &a, NULL);
  } else {
    (void)fz_checked(f, "kiln_sync", call_sync, ctx, NULL);
  }
}

typedef struct create_args {
  kiln_device device;
  int index;
} create_args;

static kiln_status call_context_create(fz_state *f, void *args, void **out) {
  (void)f;
  create_args *a = args;
  return kiln_context_create(a->device, a->index, (kiln_context **)out);
}

static void cmd_settings(fz_state *f) {
  const uint8_t what = fz_u8(f) % 4;
  kiln_context *ctx = fz_ctx(f);
  const int v = fz_int(f);
  if (what == 0) {
    if (kiln_context_use_fused(ctx, v) != KILN_OK && !kiln_last_error()[0])
      broken("kiln_context_use_fused", "empty kiln_last_error()");
  } else if (what == 1) {
    if (kiln_context_allow_tf32(ctx, v) != KILN_OK && !kiln_last_error()[0])
      broken("kiln_context_allow_tf32", "empty kiln_last_error()");
  } else if (what == 2) {
    (void)kiln_context_describe(ctx);
    (void)kiln_context_stream(ctx);
  } else {
    create_args a = {(kiln_device)(v % 5), fz_int(f)};
    if (a.device == KILN_DEVICE_CUDA || a.device == KILN_DEVICE_AUTO)
      return; /* a GPU context per program is slow, and the CPU build has none */
    kiln_context *c = NULL;
    if (fz_checked(f, "kiln_context_create", call_context_create, &a, (void **)&c) == KILN_OK)
      kiln_context_destroy(c);
  }
}

/* Operands that fit op k, made into slots 0, 1, ... in the order the op
 * reads them (sizes 1..33 from the program, f32/f16/bf16), filled with
 * ordinary values (ids and lengths in range), then the op itself: a call
 * that gets past validation into the kernels. The op's own bytes still
 * choose the slots, so aliasing and mismatches stay one mutation away. */
static void cmd_shaped(fz_state *f) {
  const uint8_t k = fz_u8(f) % kiln_fz_op_count;
  kiln_context *ctx = f->ctx[fz_u8(f) % FZ_CONTEXTS];
  const kiln_dtype dtype = (kiln_dtype)(fz_u8(f) % 3);
  int64_t d[4];
  for (int i = 0; i < 4; i++) {
    static const int64_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 16, 17, 31, 33, 0};
    d[i] = sizes[fz_u8(f) % (sizeof sizes / sizeof sizes[0])];
  }
  const int64_t value[8] = {d[0], d[1], d[2], d[3], 2 * d[1], 8, d[3] + 2, 1};
  for (int r = 0; r < 8 && r < FZ_TENSORS; r++) {
    const fz_operand *o = &kiln_fz_ops[k].shapes[r];
    if (o->ndim == 0)
      continue;
    int64_t shape[4];
    int64_t n = 1;
    for (int i = 0; i < o->ndim; i++)
      n *= shape[i] = value[o->dims[i]];
    const kiln_dtype t = o->i32 ? KILN_I32 : dtype;
    if (n * (int64_t)kiln_dtype_size(t) > FZ_MAX_BYTES)
      return;
    kiln_tensor *made = NULL;
    if (f->capturing[ctx == f->ctx[0] ? 0 : 1] ||
        kiln_tensor_create(ctx, t, o->ndim, shape, &made) != KILN_OK)
      return;
    destroy_tensor(f, r);
    f->t[r] = made;
    unsigned char *buf = malloc((size_t)n * 4 + 4);
    if (!buf)
      return;
    for (int64_t i = 0; i < n; i++) {
      const uint8_t b = (uint8_t)(i * 37 + r * 11);
      if (o->i32) {
        const int64_t bound = d[0] < d[1] ? d[0] : d[1]; /* a row of the table, a length */
        const int32_t id = bound > 0 ? (int32_t)(b % bound) : 0;
        memcpy(buf + 4 * i, &id, 4);
      } else {
        put_value(t, buf, (size_t)i, (float)(b % 17) / 4.0f - 2.0f, b);
      }
    }
    const kiln_status ignored = kiln_tensor_write(made, buf, kiln_tensor_nbytes(made));
    (void)ignored;
    free(buf);
  }
  kiln_fz_ops[k].run(f);
}

static void cmd_op(fz_state *f) {
  const uint8_t k = fz_u8(f);
  kiln_fz_ops[k % kiln_fz_op_count].run(f);
}

static void cmd_destroy(fz_state *f) { destroy_tensor(f, fz_u8(f) % FZ_TENSORS); }

typedef void (*fz_command)(fz_state *f);
/* Ops three times as often as anything else (twice with any operands,
 * once with operands that fit). */
static const fz_command commands[] = {cmd_create, cmd_wrap,  cmd_fill,     cmd_op,      cmd_op,
                                      cmd_read,   cmd_graph, cmd_settings, cmd_destroy, cmd_shaped};

/* ------------------------------------------------------------ a run */

static kiln_device first_device(void) {
  const char *d = getenv("KILN_FUZZ_DEVICE");
  if (d && strcmp(d, "cuda") == 0 && kiln_device_count(KILN_DEVICE_CUDA) > 0)
    return KILN_DEVICE_CUDA;
  return KILN_DEVICE_CPU;
}

void kiln_fz_run(const uint8_t *data, size_t size) {
  static unsigned char host_arena[FZ_CONTEXTS][FZ_ARENA_BYTES] __attribute__((aligned(64)));
  fz_state f;
  memset(&f, 0, sizeof f);
  f.in = (fz_reader){data, size, 0};
  for (int c = 0; c < FZ_CONTEXTS; c++) {
    const kiln_device dev = c == 0 ? first_device() : KILN_DEVICE_CPU;
    if (kiln_context_create(dev, 0, &f.ctx[c]) != KILN_OK)
      broken("kiln_context_create", "the harness's own context");
    if (dev == KILN_DEVICE_CPU) {
      f.arena[c] = host_arena[c];
      memset(host_arena[c], 0, FZ_ARENA_BYTES);
    } else {
      const int64_t n = FZ_ARENA_BYTES;
      if (kiln_tensor_create(f.ctx[c], KILN_F32, 1, (const int64_t[]){n / 4}, &f.arena_owner[c]) !=
          KILN_OK)
        broken("kiln_tensor_create", "the harness's GPU arena");
      f.arena[c] = kiln_tensor_data(f.arena_owner[c]);
    }
  }
  for (int step = 0; step < 96 && !fz_done(&f); step++)
    commands[fz_u8(&f) % (sizeof commands / sizeof commands[0])](&f);
  destroy_graphs(&f);
  for (int c = 0; c < FZ_CONTEXTS; c++)
    if (f.capturing[c]) {
      kiln_graph *g = NULL;
      if (kiln_graph_end(f.ctx[c], &g) == KILN_OK)
        kiln_graph_destroy(g);
    }
  for (int i = 0; i < FZ_TENSORS; i++)
    destroy_tensor(&f, i);
  for (int c = 0; c < FZ_CONTEXTS; c++) {
    const kiln_status ignored = kiln_sync(f.ctx[c]); /* may report a deferred failure */
    (void)ignored;
    kiln_tensor_destroy(f.arena_owner[c]);
    kiln_context_destroy(f.ctx[c]);
  }
}
