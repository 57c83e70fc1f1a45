/* The human-readable table `kiln bench` prints while it runs. */
#include "results.h"

#include <stdio.h>

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
