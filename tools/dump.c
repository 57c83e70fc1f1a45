/* mkdir is POSIX, not C11. */
#define _POSIX_C_SOURCE 200809L

#include "dump.h"
#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

FILE *dump_open(const char *dir) {
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "kiln: cannot create %s: %s\n", dir, strerror(errno));
    return NULL;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/manifest.tsv", dir);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "kiln: cannot write %s\n", path);
    return NULL;
  }
  fputs("# case\top\tdtype\tshape\tparams\trole\ttensor_dtype\ttensor_shape\tfile\n", f);
  return f;
}

static bool write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  bool ok = f && fwrite(data, 1, n, f) == n;
  if (f && fclose(f) != 0)
    ok = false;
  if (!ok)
    fprintf(stderr, "kiln: cannot write %s\n", path);
  return ok;
}

static void write_dims(FILE *f, const int64_t *dims, int n) {
  for (int i = 0; i < n; i++)
    fprintf(f, "%s%lld", i ? "," : "", (long long)dims[i]);
}

static void manifest_line(FILE *m, const bench_case *c, const char *role, const kiln_tensor *t,
                          const char *file) {
  fprintf(m, "%s\t%s\t%s\t", c->name, case_op_name(c->op), kiln_dtype_name(c->dtype));
  write_dims(m, c->shape, c->ndim);
  fprintf(m, "\t%s\t%s\t%s\t", c->params, role, kiln_dtype_name(kiln_tensor_dtype(t)));
  int64_t dims[KILN_MAX_DIMS];
  int nd = kiln_tensor_ndim(t);
  for (int i = 0; i < nd; i++)
    dims[i] = kiln_tensor_dim(t, i);
  write_dims(m, dims, nd);
  fprintf(m, "\t%s\n", file);
}

static bool dump_tensor(const bench_case *c, const char *role, const kiln_tensor *t,
                        const char *dir, FILE *manifest) {
  size_t n = kiln_tensor_nbytes(t);
  void *host = malloc(n ? n : 1);
  if (!host) {
    fprintf(stderr, "kiln: out of host memory dumping %s\n", c->name);
    return false;
  }
  char file[256], path[4096];
  snprintf(file, sizeof file, "%s.%s.bin", c->name, role);
  snprintf(path, sizeof path, "%s/%s", dir, file);
  bool ok = tool_ok(kiln_tensor_read(t, host, n), "kiln_tensor_read") && write_file(path, host, n);
  free(host);
  if (ok)
    manifest_line(manifest, c, role, t, file);
  return ok;
}

bool dump_case(workload *w, const char *dir, FILE *manifest) {
  if (!tool_ok(workload_run(w, 0), w->c->name) || !tool_ok(kiln_sync(w->ctx), "kiln_sync"))
    return false;
  for (int r = 0; case_role_name(w->c, r); r++)
    if (!dump_tensor(w->c, case_role_name(w->c, r), w->t[0][r], dir, manifest))
      return false;
  return true;
}
