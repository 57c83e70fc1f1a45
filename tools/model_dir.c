/* The default model folder of the kiln command: the cache that
 * scripts/fetch_model.sh fills. */
#define _POSIX_C_SOURCE 200809L
#include "model_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

bool tool_default_model_dir(char *buf, size_t cap) {
  const char *cache = getenv("KILN_CACHE_DIR");
  int n;
  if (cache && *cache) {
    n = snprintf(buf, cap, "%s/models/all-MiniLM-L6-v2", cache);
  } else {
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
      n = snprintf(buf, cap, "%s/kiln/models/all-MiniLM-L6-v2", xdg);
    else if (home && *home)
      n = snprintf(buf, cap, "%s/.cache/kiln/models/all-MiniLM-L6-v2", home);
    else
      return false;
  }
  return n > 0 && (size_t)n < cap;
}

bool tool_model_has(const char *dir, const char *name) {
  char path[4096];
  int n = snprintf(path, sizeof path, "%s/%s", dir, name);
  return n > 0 && (size_t)n < sizeof path && access(path, F_OK) == 0;
}

void tool_model_missing(const char *cmd, const char *dir) {
  fprintf(stderr,
          "kiln %s: no model in %s\n"
          "  fetch all-MiniLM-L6-v2 once with: scripts/fetch_model.sh\n"
          "  (from the kiln source tree; it needs python3 -m pip), or pass --model DIR\n",
          cmd, dir);
}
