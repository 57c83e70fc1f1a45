/* `kiln bench`: times every case of the case list on one device, prints a
 * table row per case as it goes, and optionally writes JSON and dumps. */
#include "check.h"
#include "commands.h"
#include "dump.h"
#include "json.h"
#include "progress.h"
#include "results.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_args {
  kiln_device device;
  const char *json, *cases, *filter, *dump;
  bool quick, composite;
} bench_args;

static const char usage[] =
    "usage: kiln bench [--device cpu|cuda|auto] [--json FILE] [--cases FILE]\n"
    "                  [--filter SUBSTR] [--quick] [--composite] [--dump DIR]\n"
    "  --device   where to run (default auto: the GPU when there is one)\n"
    "  --json     write every number to FILE, for bench/report.py\n"
    "  --cases    the case list (default $KILN_CASES, else the installed one)\n"
    "  --filter   only cases whose name or class contains SUBSTR\n"
    "  --quick    fewer repeats: a smoke test, not a measurement\n"
    "  --composite  fused ops as their composite of basic ops, to time the fusion\n"
    "  --dump     write each case's inputs and output to DIR, for bench/agree.py\n";

static bool parse_device(const char *s, kiln_device *device) {
  if (strcmp(s, "cpu") == 0)
    *device = KILN_DEVICE_CPU;
  else if (strcmp(s, "cuda") == 0)
    *device = KILN_DEVICE_CUDA;
  else if (strcmp(s, "auto") == 0)
    *device = KILN_DEVICE_AUTO;
  else
    return false;
  return true;
}

typedef enum parse_result { PARSE_OK, PARSE_HELP, PARSE_ERROR } parse_result;

/* Fills *a from the options; on anything not understood, prints what was
 * wrong and the usage (PARSE_ERROR). --help and -h give PARSE_HELP. */
static parse_result parse_args(int argc, char **argv, bench_args *a) {
  *a = (bench_args){.device = KILN_DEVICE_AUTO};
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (val && strncmp(val, "--", 2) == 0)
      val = NULL; /* "--json --quick": the value was forgotten */
    if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0)
      return PARSE_HELP;
    const char **slot = strcmp(opt, "--json") == 0     ? &a->json
                        : strcmp(opt, "--cases") == 0  ? &a->cases
                        : strcmp(opt, "--filter") == 0 ? &a->filter
                        : strcmp(opt, "--dump") == 0   ? &a->dump
                                                       : NULL;
    bool *flag = strcmp(opt, "--quick") == 0       ? &a->quick
                 : strcmp(opt, "--composite") == 0 ? &a->composite
                                                   : NULL;
    bool is_device = strcmp(opt, "--device") == 0;
    if (flag) {
      *flag = true;
      continue;
    }
    if (!slot && !is_device) {
      tool_usage_error(usage, "bench", opt[0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'",
                       opt);
      return PARSE_ERROR;
    }
    if (!val) {
      tool_usage_error(usage, "bench", "option %s needs a value", opt);
      return PARSE_ERROR;
    }
    if (slot)
      *slot = val;
    else if (!parse_device(val, &a->device)) {
      tool_usage_error(usage, "bench", "unknown device '%s' (cpu, cuda or auto)", val);
      return PARSE_ERROR;
    }
    i++;
  }
  return PARSE_OK;
}

static void note_failure(case_result *r, kiln_status s, const char *detail) {
  /* A valid request the backend cannot do is a gap to report, not a failure. */
  r->state = s == KILN_ERR_UNSUPPORTED ? CASE_SKIPPED : CASE_FAILED;
  snprintf(r->note, sizeof r->note, "%s: %s", kiln_status_string(s), detail);
}

static void run_case(kiln_context *ctx, const bench_case *c, const bench_args *a, FILE *manifest,
                     case_result *r) {
  r->c = c;
  kiln_device device = kiln_context_device(ctx);
  if (c->cls == CLASS_GPU && device != KILN_DEVICE_CUDA) {
    r->state = CASE_SKIPPED;
    snprintf(r->note, sizeof r->note, "gpu class: run on CUDA only");
    return;
  }
  workload w;
  char why[256];
  kiln_status s = workload_create(ctx, c, workload_sets_wanted(c, device), &w, why, sizeof why);
  if (s != KILN_OK) {
    note_failure(r, s, why);
    return;
  }
  r->sets = w.sets;
  s = measure_case(&w, a->quick, r->modes);
  if (s != KILN_OK)
    note_failure(r, s, kiln_last_error());
  else if (manifest && !dump_case(&w, a->dump, manifest)) {
    r->state = CASE_FAILED;
    snprintf(r->note, sizeof r->note, "measured, but the dump to %s failed", a->dump);
  }
  workload_destroy(&w);
}

/* Runs the selected cases; returns how many failed, or -1 when none matched. */
static int run_all(kiln_context *ctx, const case_list *cases, const bench_args *a,
                   FILE *manifest, case_result *results, size_t *n) {
  int failed = 0;
  *n = 0;
  size_t selected = 0;
  for (size_t i = 0; i < cases->count; i++)
    selected += case_matches(&cases->items[i], a->filter);
  table_header();
  for (size_t i = 0; i < cases->count; i++) {
    if (!case_matches(&cases->items[i], a->filter))
      continue;
    case_result *r = &results[(*n)++];
    progress_start(*n, selected, cases->items[i].name);
    run_case(ctx, &cases->items[i], a, manifest, r);
    progress_clear();
    failed += r->state == CASE_FAILED;
    table_row(r);
    fflush(stdout);
  }
  if (*n)
    table_summary(results, *n);
  return *n ? failed : -1;
}

static int bench_on(kiln_context *ctx, const case_list *cases, const bench_args *a,
                    const char *cases_path) {
  case_result *results = calloc(cases->count ? cases->count : 1, sizeof *results);
  FILE *manifest = a->dump ? dump_open(a->dump) : NULL;
  if (!results || (a->dump && !manifest)) {
    free(results);
    return 1;
  }
  size_t n;
  int failed = run_all(ctx, cases, a, manifest, results, &n);
  if (manifest)
    fclose(manifest);
  if (failed < 0)
    fprintf(stderr, "kiln: no case matches --filter %s\n", a->filter);
  bool cuda = kiln_context_device(ctx) == KILN_DEVICE_CUDA;
  run_info info = {cuda ? "cuda" : "cpu", kiln_context_describe(ctx), cases_path, a->filter,
                   a->quick};
  bool written = !a->json || json_write(a->json, &info, results, n);
  free(results);
  return failed != 0 || !written;
}

int cmd_bench(int argc, char **argv) {
  bench_args a;
  switch (parse_args(argc, argv, &a)) {
  case PARSE_OK: break;
  case PARSE_HELP: fputs(usage, stdout); return 0;
  case PARSE_ERROR: return 2;
  }
  const char *path = a.cases ? a.cases : cases_default_path();
  if (!path) {
    fprintf(stderr, "kiln: no case list found; give --cases FILE or set KILN_CASES\n");
    return 2;
  }
  case_list cases;
  if (!cases_load(path, &cases))
    return 2;
  kiln_context *ctx = NULL;
  int status = 1;
  if (tool_ok(kiln_context_create(a.device, 0, &ctx), "kiln_context_create") &&
      tool_ok(kiln_context_use_fused(ctx, !a.composite), "kiln_context_use_fused")) {
    printf("kiln %s bench on %s\ncases: %s%s%s\n\n", kiln_version(), kiln_context_describe(ctx),
           path, a.quick ? " (--quick: fewer repeats, a smoke test)" : "",
           a.composite ? " (--composite: fused ops unfused)" : "");
    status = bench_on(ctx, &cases, &a, path);
  }
  kiln_context_destroy(ctx);
  cases_free(&cases);
  return status;
}
