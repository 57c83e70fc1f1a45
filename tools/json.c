/* A small JSON writer: the output has one fixed shape, so printing it
 * directly is simpler than a general library. Field names match those of
 * bench/torch_side.py, so bench/report.py reads both alike. */
#include "json.h"

#include <stdio.h>

static void write_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

static void write_mode(FILE *f, const mode_result *m) {
  fprintf(f, "{\"median_us\": %.6g, \"min_us\": %.6g, \"max_us\": %.6g, \"samples\": %d, "
             "\"ops_per_sample\": %ld}",
          m->us.median, m->us.min, m->us.max, m->us.count, m->ops_per_sample);
}

static void write_modes(FILE *f, const case_result *r) {
  fputs("\"modes\": {", f);
  const char *sep = "";
  for (int m = 0; m < MODE_COUNT; m++) {
    if (!r->modes[m].present)
      continue;
    fprintf(f, "%s\"%s\": ", sep, mode_name((bench_mode)m));
    write_mode(f, &r->modes[m]);
    sep = ", ";
  }
  fputs("}", f);
}

static void write_shape(FILE *f, const bench_case *c) {
  fputc('[', f);
  for (int i = 0; i < c->ndim; i++)
    fprintf(f, "%s%lld", i ? ", " : "", (long long)c->shape[i]);
  fputc(']', f);
}

static void write_result(FILE *f, const case_result *r) {
  const bench_case *c = r->c;
  static const char *const states[] = {"done", "skipped", "failed"};
  fputs("    {\"case\": ", f);
  write_string(f, c->name);
  fprintf(f, ", \"op\": \"%s\", \"dtype\": \"%s\", \"shape\": ", case_op_name(c->op),
          kiln_dtype_name(c->dtype));
  write_shape(f, c);
  fputs(", \"params\": ", f);
  write_string(f, c->params);
  fprintf(f, ", \"class\": \"%s\", \"state\": \"%s\", \"note\": ", case_class_name(c->cls),
          states[r->state]);
  write_string(f, r->note);
  fprintf(f, ",\n     \"bytes\": %.17g, \"flops\": %.17g, \"input_sets\": %d, \"primary\": \"%s\", ",
          case_bytes(c), case_flops(c), r->sets, mode_name(primary_mode(c)));
  const char *unit;
  double rate = result_rate(r, &unit);
  fprintf(f, "\"GBps\": %.6g, \"GFLOPs\": %.6g,\n     ", case_is_gemm(c) ? 0 : rate,
          case_is_gemm(c) ? rate : 0);
  write_modes(f, r);
  fputs("}", f);
}

bool json_write(const char *path, const run_info *info, const case_result *results, size_t n) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "kiln: cannot write %s\n", path);
    return false;
  }
  fputs("{\n  \"tool\": \"kiln\",\n  \"version\": ", f);
  write_string(f, kiln_version());
  fputs(",\n  \"device\": ", f);
  write_string(f, info->device);
  fputs(",\n  \"description\": ", f);
  write_string(f, info->description);
  fputs(",\n  \"cases_file\": ", f);
  write_string(f, info->cases_path);
  fputs(",\n  \"filter\": ", f);
  write_string(f, info->filter ? info->filter : "");
  fprintf(f, ",\n  \"quick\": %s,\n  \"results\": [\n", info->quick ? "true" : "false");
  for (size_t i = 0; i < n; i++) {
    write_result(f, &results[i]);
    fputs(i + 1 < n ? ",\n" : "\n", f);
  }
  fputs("  ]\n}\n", f);
  bool ok = !ferror(f);
  if (fclose(f) != 0 || !ok) {
    fprintf(stderr, "kiln: error writing %s\n", path);
    return false;
  }
  return true;
}
