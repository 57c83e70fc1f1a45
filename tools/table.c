/* The human-readable table `kiln bench` prints while it runs. */
#include "results.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

double result_rate(const case_result *r, const char **unit) {
  const mode_result *m = &r->modes[primary_mode(r->c)];
  bool flops = case_is_gemm(r->c);
  *unit = flops ? "GFLOP/s" : "GB/s";
  if (!m->present || m->us.median <= 0)
    return 0;
  return (flops ? case_flops(r->c) : case_bytes(r->c)) / (m->us.median * 1e-6) / 1e9;
}

/* Microseconds with three or four significant digits, wide or narrow. */
static const char *fmt_us(char *buf, size_t len, double us) {
  snprintf(buf, len, us < 10 ? "%.2f" : us < 1000 ? "%.1f" : "%.0f", us);
  return buf;
}

static void print_optional(const mode_result *m) {
  char buf[32];
  printf(" %10s", m->present ? fmt_us(buf, sizeof buf, m->us.median) : "-");
}

void table_header(void) {
  puts("columns: µs per op, median (min–max) of the samples (small: ops issued back to back,"
       " large: one op then a sync); synced: one op then a sync; graph: per op in a replayed"
       " graph; rate: at the median");
  /* Titles hold multi-byte characters (µ, –), so they are padded by hand. */
  printf("%-32s %-5s  %s  %s  %s  %s\n", "case", "class",
         "median µs (min–max)          ", " synced µs", "  graph µs", "rate");
}

void table_row(const case_result *r) {
  printf("%-32s %-5s  ", r->c->name, case_class_name(r->c->cls));
  if (r->state != CASE_DONE) {
    printf("%s: %s\n", r->state == CASE_SKIPPED ? "skipped" : "FAILED", r->note);
    return;
  }
  const mode_result *m = &r->modes[primary_mode(r->c)];
  char med[32], lo[32], hi[32], range[112];
  snprintf(range, sizeof range, "%s (%s–%s)", fmt_us(med, sizeof med, m->us.median),
           fmt_us(lo, sizeof lo, m->us.min), fmt_us(hi, sizeof hi, m->us.max));
  /* The en dash is three bytes but one column: pad two more. */
  printf("%-31s", range);
  print_optional(&r->modes[MODE_SYNCED]);
  print_optional(&r->modes[MODE_GRAPH]);
  const char *unit;
  double rate = result_rate(r, &unit);
  printf("  %.1f %s\n", rate, unit);
}

/* "skipped" notes that repeat (every gpu-class case on the CPU) are counted
 * once each, in the order first seen. */
static void print_skip_reasons(const case_result *r, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (r[i].state != CASE_SKIPPED)
      continue;
    bool first = true;
    for (size_t j = 0; j < i && first; j++)
      first = !(r[j].state == CASE_SKIPPED && strcmp(r[j].note, r[i].note) == 0);
    if (!first)
      continue;
    size_t count = 0;
    for (size_t j = i; j < n; j++)
      count += r[j].state == CASE_SKIPPED && strcmp(r[j].note, r[i].note) == 0;
    printf("  skipped %zu: %s\n", count, r[i].note);
  }
}

void table_summary(const case_result *r, size_t n) {
  size_t done = 0, skipped = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    done += r[i].state == CASE_DONE;
    skipped += r[i].state == CASE_SKIPPED;
    failed += r[i].state == CASE_FAILED;
  }
  printf("\n%zu case%s: %zu run, %zu skipped, %zu failed\n", n, n == 1 ? "" : "s", done,
         skipped, failed);
  print_skip_reasons(r, n);
}
