/* The API harness without libFuzzer: runs the programs in the files (or
 * in the files of the directories) named on the command line, once each.
 * For builds without libFuzzer (gcc; the CUDA backend) and for replaying
 * the corpus on the GPU under compute-sanitizer (-DKILN_FUZZ_REPLAY=ON):
 *   KILN_FUZZ_DEVICE=cuda compute-sanitizer build/fuzz/fuzz_api_replay fuzz/corpus/api
 * A broken contract aborts, as under libFuzzer. */
#include "api.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run_file(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    fprintf(stderr, "fuzz_api_replay: cannot open %s\n", path);
    return 1;
  }
  uint8_t *data = NULL;
  size_t size = 0, cap = 0;
  for (;;) {
    if (size == cap) {
      cap = cap ? 2 * cap : 4096;
      uint8_t *grown = realloc(data, cap);
      if (!grown) {
        free(data);
        fclose(fp);
        return 1;
      }
      data = grown;
    }
    const size_t got = fread(data + size, 1, cap - size, fp);
    if (got == 0)
      break;
    size += got;
  }
  fclose(fp);
  kiln_fz_run(data, size);
  free(data);
  return 0;
}

static int run_path(const char *path, int *count) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "fuzz_api_replay: no such file %s\n", path);
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) {
    ++*count;
    return run_file(path);
  }
  DIR *dir = opendir(path);
  if (!dir)
    return 1;
  int failed = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char child[4096];
    snprintf(child, sizeof child, "%s/%s", path, e->d_name);
    failed |= run_path(child, count);
  }
  closedir(dir);
  return failed;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: fuzz_api_replay FILE_OR_DIR...\n");
    return 2;
  }
  int failed = 0, count = 0;
  for (int i = 1; i < argc; i++)
    failed |= run_path(argv[i], &count);
  printf("fuzz_api_replay: %d program%s run, every contract held\n", count,
         count == 1 ? "" : "s");
  return failed;
}
