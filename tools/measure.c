/*
 * How kiln bench measures. bench/torch_side.py follows the same steps with
 * the same constants, so a ratio between the two compares like with like.
 *
 * Every case starts with a warm-up: ops until at least WARM_S seconds have
 * passed (3 ops at least for small cases, 1 for large). It pays for first
 * use (plan creation, page faults, clocks ramping up) outside the timing.
 *
 * small (launch-bound), three modes, all host wall time (CLOCK_MONOTONIC):
 *   back_to_back  N ops issued back to back, then kiln_sync, time / N. N is
 *                 chosen from the warm-up so that one sample takes about
 *                 SAMPLE_S. SMALL_REPEATS samples; median, min and max.
 *                 This is what a program issuing ops asynchronously sees.
 *   synced        each op followed by kiln_sync, timed alone: the latency of
 *                 one call, launch and wait included. Up to SYNCED_MAX
 *                 samples or SYNCED_S seconds.
 *   graph         GRAPH_OPS ops captured once (kiln_graph_begin/_end); a
 *                 sample times K replays (kiln_graph_run) and one kiln_sync,
 *                 divided by K * GRAPH_OPS. SMALL_REPEATS samples.
 *   Small cases use one set of tensors: their inputs stay in cache on both
 *   sides, as they would between layers of a model.
 *
 * large and gpu (bandwidth or compute bound): each sample is a batch of
 * ops issued back to back, then kiln_sync, timed with host wall time and
 * divided by the batch: LARGE_BATCH_S / (the warm-up's time per op) ops,
 * 1 to LARGE_BATCH_MAX, so an op of a few milliseconds or more is a batch
 * of one. At least LARGE_MIN_RUNS samples and LARGE_MIN_S seconds, at most
 * LARGE_MAX_RUNS, and no more once the samples span LARGE_CAP_S (slow CPU
 * cases); median, min and max. An op slower than LARGE_CAP_S on its own
 * (bf16 GEMMs on CPUs without bf16 units) is timed once: its warm-up run is
 * the sample. Until 2026-12-01 a sample was one op and a sync, which put
 * the launch and sync (about 9 us) inside every sample: 12% of a 70 us row
 * op. Batched, a sample holds the ops' device time and the gaps between
 * consecutive kernels, as a program streaming ops sees it. PyTorch's side
 * times the same batches with CUDA events around them (host wall time on
 * the CPU).
 *   On the GPU successive samples rotate through sets of tensors that add up
 *   to twice a 50 MB L2 (see workload.c), so no sample reads what the one
 *   before left in the L2 (bytes as tools/geometry.c counts them: the
 *   embedding case rotates on its 8 MB of gathered rows, ids and output).
 *   On the CPU there is one set: every large case but embedding moves at
 *   least 40 MB per op, past the L2 and L3 of the CPUs this runs on, and the
 *   matmuls are compute bound, so a cached input would change little;
 *   embedding gathers the same 512 rows each time, which a large L3 keeps.
 */
#include "measure.h"
#include "progress.h"

typedef struct plan {
  double warm_s;     /* warm-up length */
  int small_repeats; /* samples for back_to_back and graph */
  double sample_s;   /* target length of one back_to_back or graph sample */
  int synced_max;    /* most synced samples */
  double synced_s;   /* synced samples stop after this long */
  int large_min_runs, large_max_runs;
  double large_min_s, large_cap_s;
} plan;

enum { GRAPH_OPS = 100, MIN_BATCH = 10, MAX_BATCH = 20000, SAMPLES_MAX = 512 };
/* A large sample's target length, and the most ops in it. */
#define LARGE_BATCH_S 0.002
enum { LARGE_BATCH_MAX = 64 };

static const plan full = {.warm_s = 0.2, .small_repeats = 15, .sample_s = 0.02,
                          .synced_max = 500, .synced_s = 0.5, .large_min_runs = 10,
                          .large_max_runs = 50, .large_min_s = 1.0, .large_cap_s = 10.0};
static const plan quick_plan = {.warm_s = 0.05, .small_repeats = 5, .sample_s = 0.005,
                                .synced_max = 50, .synced_s = 0.05, .large_min_runs = 3,
                                .large_max_runs = 5, .large_min_s = 0.1, .large_cap_s = 1.0};

const char *mode_name(bench_mode mode) {
  static const char *const names[MODE_COUNT] = {"back_to_back", "synced", "graph", "large"};
  return mode < MODE_COUNT ? names[mode] : "?";
}

bench_mode primary_mode(const bench_case *c) {
  return c->cls == CLASS_SMALL ? MODE_BACK_TO_BACK : MODE_LARGE;
}

/* Issues ops [*next, *next + n) back to back, then waits for them. */
static kiln_status run_batch(workload *w, long *next, long n) {
  for (long i = 0; i < n; i++) {
    kiln_status s = workload_run(w, (*next)++);
    if (s != KILN_OK)
      return s;
  }
  kiln_status s = kiln_sync(w->ctx);
  progress_tick();
  return s;
}

static long clamp_count(double want, long lo, long hi) {
  return want < (double)lo ? lo : want > (double)hi ? hi : (long)want;
}

/* Warm-up in batches of one op (large) or MIN_BATCH ops (small); returns
 * the per-op time of the last batch in *per_op_s, to size the samples. */
static kiln_status warm_up(workload *w, const plan *p, long *next, double *per_op_s) {
  long batch = w->c->cls == CLASS_SMALL ? MIN_BATCH : 1;
  long min_ops = w->c->cls == CLASS_SMALL ? 3 : 1;
  double start = now_seconds();
  for (long done = 0; done < min_ops || now_seconds() - start < p->warm_s; done += batch) {
    double t = now_seconds();
    kiln_status s = run_batch(w, next, batch);
    if (s != KILN_OK)
      return s;
    *per_op_s = (now_seconds() - t) / (double)batch;
  }
  return KILN_OK;
}

static mode_result summarise(double *samples_s, int n, long ops_per_sample) {
  for (int i = 0; i < n; i++)
    samples_s[i] *= 1e6;
  return (mode_result){.present = true, .us = stats_of(samples_s, n), .ops_per_sample = ops_per_sample};
}

static kiln_status back_to_back(workload *w, const plan *p, long *next, double per_op_s,
                                mode_result *out) {
  double samples[SAMPLES_MAX];
  long n = clamp_count(p->sample_s / per_op_s, MIN_BATCH, MAX_BATCH);
  for (int r = 0; r < p->small_repeats; r++) {
    double t = now_seconds();
    kiln_status s = run_batch(w, next, n);
    if (s != KILN_OK)
      return s;
    samples[r] = (now_seconds() - t) / (double)n;
  }
  *out = summarise(samples, p->small_repeats, n);
  return KILN_OK;
}

static kiln_status synced(workload *w, const plan *p, long *next, mode_result *out) {
  double samples[SAMPLES_MAX];
  int n = 0;
  double start = now_seconds();
  while (n < p->synced_max && (n < MIN_BATCH || now_seconds() - start < p->synced_s)) {
    double t = now_seconds();
    kiln_status s = run_batch(w, next, 1);
    if (s != KILN_OK)
      return s;
    samples[n++] = now_seconds() - t;
  }
  *out = summarise(samples, n, 1);
  return KILN_OK;
}

/* Captures GRAPH_OPS ops; on a failed op the capture is still ended, so the
 * context is left usable. */
static kiln_status capture(workload *w, long *next, kiln_graph **graph) {
  kiln_status s = kiln_graph_begin(w->ctx);
  if (s != KILN_OK)
    return s;
  for (int i = 0; i < GRAPH_OPS && s == KILN_OK; i++)
    s = workload_run(w, (*next)++);
  kiln_status end = kiln_graph_end(w->ctx, graph);
  if (s != KILN_OK) {
    kiln_graph_destroy(*graph);
    *graph = NULL;
    return s;
  }
  return end;
}

static kiln_status replay(kiln_context *ctx, const kiln_graph *g, long k) {
  for (long i = 0; i < k; i++) {
    kiln_status s = kiln_graph_run(ctx, g);
    if (s != KILN_OK)
      return s;
  }
  return kiln_sync(ctx);
}

static kiln_status graph_samples(workload *w, const plan *p, const kiln_graph *g,
                                 mode_result *out) {
  double t = now_seconds();
  kiln_status s = replay(w->ctx, g, 1); /* the first replay may upload the graph */
  if (s != KILN_OK)
    return s;
  long k = clamp_count(p->sample_s / (now_seconds() - t), 1, 1000);
  double samples[SAMPLES_MAX];
  for (int r = 0; r < p->small_repeats; r++) {
    t = now_seconds();
    s = replay(w->ctx, g, k);
    if (s != KILN_OK)
      return s;
    samples[r] = (now_seconds() - t) / (double)(k * GRAPH_OPS);
  }
  *out = summarise(samples, p->small_repeats, k * GRAPH_OPS);
  return KILN_OK;
}

static kiln_status graph_mode(workload *w, const plan *p, long *next, mode_result *out) {
  kiln_graph *g = NULL;
  kiln_status s = capture(w, next, &g);
  if (s == KILN_OK)
    s = graph_samples(w, p, g, out);
  kiln_graph_destroy(g);
  return s;
}

static kiln_status large(workload *w, const plan *p, long *next, double warm_op_s,
                         mode_result *out) {
  double samples[SAMPLES_MAX];
  int n = 0;
  double start = now_seconds();
  if (warm_op_s >= p->large_cap_s) {
    samples[n++] = warm_op_s;
    start -= warm_op_s;
  }
  const long batch = clamp_count(LARGE_BATCH_S / warm_op_s, 1, LARGE_BATCH_MAX);
  for (;;) {
    double elapsed = now_seconds() - start;
    bool enough = n >= p->large_min_runs && elapsed >= p->large_min_s;
    bool too_long = n >= 1 && elapsed >= p->large_cap_s;
    if (n >= p->large_max_runs || enough || too_long)
      break;
    double t = now_seconds();
    kiln_status s = run_batch(w, next, batch);
    if (s != KILN_OK)
      return s;
    samples[n++] = (now_seconds() - t) / (double)batch;
  }
  *out = summarise(samples, n, batch);
  return KILN_OK;
}

kiln_status measure_case(workload *w, bool quick, mode_result modes[MODE_COUNT]) {
  const plan *p = quick ? &quick_plan : &full;
  for (int m = 0; m < MODE_COUNT; m++)
    modes[m] = (mode_result){0};
  long next = 0;
  double per_op_s = 0;
  kiln_status s = warm_up(w, p, &next, &per_op_s);
  if (s != KILN_OK)
    return s;
  if (w->c->cls != CLASS_SMALL)
    return large(w, p, &next, per_op_s, &modes[MODE_LARGE]);
  s = back_to_back(w, p, &next, per_op_s, &modes[MODE_BACK_TO_BACK]);
  if (s == KILN_OK)
    s = synced(w, p, &next, &modes[MODE_SYNCED]);
  if (s == KILN_OK)
    s = graph_mode(w, p, &next, &modes[MODE_GRAPH]);
  return s;
}
