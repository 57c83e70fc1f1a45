/* The runner: which backends exist, the list of tests, seeds, and the
 * per-test cleanup of everything a test made. */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct kt_entry {
  char *name; /* without the backend prefix */
  kt_fn fn;
  const void *param;
  kiln_dtype dtype;
  bool host;
} kt_entry;

typedef struct kt_backend {
  const char *name;
  kiln_device device;
  kiln_context *ctx; /* NULL when absent, or when making it failed */
  bool present;
} kt_backend;

/* One cmocka test: an entry on one backend. */
typedef struct kt_instance {
  const kt_entry *entry;
  const kt_backend *backend; /* NULL for host entries */
  char *name;
} kt_instance;

static kt_entry *entries;
static size_t entry_count, entry_capacity;
static kt_backend backends[] = {
    {"cpu", KILN_DEVICE_CPU, NULL, false},
    {"cuda", KILN_DEVICE_CUDA, NULL, false},
};
#define BACKEND_COUNT (sizeof backends / sizeof backends[0])
static uint64_t run_seed;
static bool quick, verbose;

bool kt_quick(void) { return quick; }
bool kt_verbose(void) { return verbose; }

/* ------------------------------------------------------ registration */

static char *vformat(const char *fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int len = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  char *s = malloc((size_t)len + 1);
  if (s)
    vsnprintf(s, (size_t)len + 1, fmt, args);
  return s;
}

static char *format(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  char *s = vformat(fmt, args);
  va_end(args);
  return s;
}

static void add_entry(kt_fn fn, const void *param, kiln_dtype dtype, bool host, char *name) {
  if (entry_count == entry_capacity) {
    entry_capacity = entry_capacity ? 2 * entry_capacity : 64;
    entries = realloc(entries, entry_capacity * sizeof *entries);
    if (!entries) {
      fprintf(stderr, "kiln tests: out of memory registering tests\n");
      exit(1);
    }
  }
  entries[entry_count++] = (kt_entry){name, fn, param, dtype, host};
}

void kt_add(kt_fn fn, const void *param, kiln_dtype dtype, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  add_entry(fn, param, dtype, false, vformat(fmt, args));
  va_end(args);
}

void kt_add_host(kt_fn fn, const void *param, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  add_entry(fn, param, KILN_F32, true, vformat(fmt, args));
  va_end(args);
}

/* ------------------------------------------------ per-test resources */

typedef enum { RES_HOST, RES_TENSOR, RES_CONTEXT, RES_GRAPH } res_kind;
typedef struct {
  res_kind kind;
  void *ptr;
} resource;

static resource *resources;
static size_t resource_count, resource_capacity;
static const kt_env *current;

static void track(res_kind kind, void *ptr) {
  if (resource_count == resource_capacity) {
    resource_capacity = resource_capacity ? 2 * resource_capacity : 64;
    resource *grown = realloc(resources, resource_capacity * sizeof *grown);
    if (!grown) {
      fprintf(stderr, "kiln tests: out of memory tracking a resource\n");
      exit(1);
    }
    resources = grown;
  }
  resources[resource_count++] = (resource){kind, ptr};
}

/* Graphs before the tensors they use, tensors before their contexts. */
static void release(res_kind kind) {
  for (size_t i = resource_count; i-- > 0;) {
    if (resources[i].kind != kind)
      continue;
    switch (kind) {
    case RES_HOST: free(resources[i].ptr); break;
    case RES_TENSOR: kiln_tensor_destroy(resources[i].ptr); break;
    case RES_CONTEXT: kiln_context_destroy(resources[i].ptr); break;
    case RES_GRAPH: kiln_graph_destroy(resources[i].ptr); break;
    }
  }
}

/* A test that failed mid-capture must not leave the shared context
 * capturing: every later test on it would fail for the wrong reason. */
static void end_open_capture(kiln_context *ctx) {
  kiln_graph *g = NULL;
  if (ctx && kiln_graph_end(ctx, &g) == KILN_OK)
    kiln_graph_destroy(g);
}

static int teardown(void **state) {
  const kt_instance *inst = *state;
  release(RES_GRAPH);
  if (inst->backend)
    end_open_capture(inst->backend->ctx);
  release(RES_TENSOR);
  release(RES_CONTEXT);
  release(RES_HOST);
  resource_count = 0;
  current = NULL;
  return 0;
}

void *kt_alloc(size_t nbytes) {
  void *p = calloc(1, nbytes ? nbytes : 1);
  if (!p)
    KT_FAIL(current, "out of host memory allocating %zu bytes", nbytes);
  track(RES_HOST, p);
  return p;
}

kiln_tensor *kt_tensor_on(kt_env *env, kiln_context *ctx, kiln_dtype dtype, int ndim,
                          const int64_t *shape) {
  kiln_tensor *t = NULL;
  kiln_status s = kiln_tensor_create(ctx, dtype, ndim, shape, &t);
  if (s != KILN_OK)
    KT_FAIL(env, "kiln_tensor_create(%s %s) failed: %s: %s", kiln_dtype_name(dtype),
            kt_shape_str(ndim, shape), kiln_status_string(s), kiln_last_error());
  track(RES_TENSOR, t);
  return t;
}

kiln_tensor *kt_tensor(kt_env *env, kiln_dtype dtype, int ndim, const int64_t *shape) {
  return kt_tensor_on(env, env->ctx, dtype, ndim, shape);
}

kiln_context *kt_context_of(kt_env *env, kiln_device device) {
  kiln_context *ctx = NULL;
  kiln_status s = kiln_context_create(device, 0, &ctx);
  if (s != KILN_OK)
    KT_FAIL(env, "another context on device %d: %s: %s", (int)device, kiln_status_string(s),
            kiln_last_error());
  track(RES_CONTEXT, ctx);
  return ctx;
}

kiln_context *kt_context(kt_env *env) { return kt_context_of(env, env->device); }

kiln_tensor *kt_track_tensor(kiln_tensor *t) {
  if (t)
    track(RES_TENSOR, t);
  return t;
}

kiln_graph *kt_track_graph(kiln_graph *graph) {
  if (graph)
    track(RES_GRAPH, graph);
  return graph;
}

/* ------------------------------------------------------------ failure */

void kt_fail_at(const kt_env *env, const char *file, int line, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  char *msg = vformat(fmt, args);
  va_end(args);
  print_error("%s: %s\n", env ? env->name : "?", msg ? msg : fmt);
  if (env)
    print_error("replay: KILN_TEST_SEED=%" PRIu64 " KILN_TEST_FILTER='%s' (test seed %" PRIu64
                ")\n",
                run_seed, env->name, env->seed);
  free(msg);
  _fail(file, line);
}

void kt_ok_at(const kt_env *env, kiln_status s, const char *call, const char *file, int line) {
  if (s != KILN_OK)
    kt_fail_at(env, file, line, "%s returned %s: %s", call, kiln_status_string(s),
               kiln_last_error());
}

void kt_skip_if_unsupported(const kt_env *env, kiln_status s) {
  if (s != KILN_ERR_UNSUPPORTED)
    return;
  print_message("%s: KILN_ERR_UNSUPPORTED: %s\n", env->name, kiln_last_error());
  skip();
}

/* -------------------------------------------------------------- running */

/* splitmix64: decorrelates the per-test seeds made from one run seed. */
static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* The test's seed depends only on the run seed and its name, so running one
 * test alone (KILN_TEST_FILTER) replays exactly what it saw in a full run. */
static uint64_t seed_for(const char *name) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (const char *c = name; *c; c++)
    h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
  return mix(run_seed ^ h);
}

static void run_instance(void **state) {
  const kt_instance *inst = *state;
  kt_env env = {
      .ctx = inst->backend ? inst->backend->ctx : NULL,
      .device = inst->backend ? inst->backend->device : KILN_DEVICE_AUTO,
      .backend = inst->backend ? inst->backend->name : "host",
      .name = inst->name,
      .dtype = inst->entry->dtype,
      .param = inst->entry->param,
      .seed = seed_for(inst->name),
  };
  env.rng = env.seed;
  current = &env;
  if (inst->backend && !env.ctx)
    KT_FAIL(&env, "the %s backend is present but its context could not be made",
            env.backend);
  inst->entry->fn(&env);
}

/* Runs for every "cuda/..." test on a machine without a GPU: the test shows
 * up as SKIPPED instead of vanishing from the log. */
static void run_skipped(void **state) {
  (void)state;
  skip();
}

static void read_environment(void) {
  const char *s = getenv("KILN_TEST_SEED");
  run_seed = s && *s ? strtoull(s, NULL, 0)
                     : mix((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
                           (uint64_t)clock());
  const char *q = getenv("KILN_TEST_QUICK");
  quick = q && *q && strcmp(q, "0") != 0;
  const char *v = getenv("KILN_TEST_VERBOSE");
  verbose = v && *v && strcmp(v, "0") != 0;
  const char *filter = getenv("KILN_TEST_FILTER");
  if (filter && *filter)
    cmocka_set_test_filter(filter);
}

static void open_backends(void) {
  for (size_t i = 0; i < BACKEND_COUNT; i++) {
    kt_backend *b = &backends[i];
    b->present = kiln_device_count(b->device) > 0;
    if (!b->present) {
      printf("[ BACKEND  ] %s: absent (kiln_device_count = 0): its tests are SKIPPED\n",
             b->name);
      continue;
    }
    kiln_status s = kiln_context_create(b->device, 0, &b->ctx);
    if (s == KILN_OK)
      printf("[ BACKEND  ] %s: %s\n", b->name, kiln_context_describe(b->ctx));
    else
      printf("[ BACKEND  ] %s: present but kiln_context_create failed: %s: %s\n", b->name,
             kiln_status_string(s), kiln_last_error());
  }
}

static size_t instance_count(void) {
  size_t n = 0;
  for (size_t i = 0; i < entry_count; i++)
    n += entries[i].host ? 1 : BACKEND_COUNT;
  return n;
}

static void make_instances(kt_instance *inst, struct CMUnitTest *tests) {
  size_t n = 0;
  for (size_t i = 0; i < entry_count; i++) {
    for (size_t b = 0; b < (entries[i].host ? 1 : BACKEND_COUNT); b++, n++) {
      const kt_backend *be = entries[i].host ? NULL : &backends[b];
      inst[n] = (kt_instance){&entries[i], be,
                              format("%s/%s", be ? be->name : "host", entries[i].name)};
      tests[n] = (struct CMUnitTest){
          .name = inst[n].name,
          .test_func = be && !be->present ? run_skipped : run_instance,
          .teardown_func = teardown,
          .initial_state = &inst[n],
      };
    }
  }
}

static void free_everything(kt_instance *inst, struct CMUnitTest *tests, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(inst[i].name);
  for (size_t i = 0; i < entry_count; i++)
    free(entries[i].name);
  for (size_t b = 0; b < BACKEND_COUNT; b++) {
    kiln_context_destroy(backends[b].ctx);
    backends[b].ctx = NULL;
  }
  free(entries);
  free(resources);
  free(inst);
  free(tests);
  entries = NULL;
  resources = NULL;
  entry_count = entry_capacity = resource_capacity = 0;
}

int kt_run(const char *group) {
  /* cmocka prints results to stdout and failure details to stderr; line
   * buffering keeps the two in order when CTest reads them from a pipe. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  read_environment();
  printf("[ SEED     ] %s: KILN_TEST_SEED=%" PRIu64 "%s\n", group, run_seed,
         quick ? " (KILN_TEST_QUICK: large cases shrunk)" : "");
  open_backends();
  fflush(stdout);
  size_t n = instance_count();
  kt_instance *inst = calloc(n, sizeof *inst);
  struct CMUnitTest *tests = calloc(n, sizeof *tests);
  if (!inst || !tests) {
    fprintf(stderr, "kiln tests: out of memory\n");
    return 1;
  }
  make_instances(inst, tests);
  int failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
  free_everything(inst, tests, n);
  return failed;
}
