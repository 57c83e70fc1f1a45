/* Status names and the thread-local last error. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

/* Long enough for a function name, three shapes and an explanation. */
#define KILN_ERROR_LEN 512

static _Thread_local char last_error[KILN_ERROR_LEN];

const char *kiln_status_string(kiln_status s) {
  switch (s) {
  case KILN_OK: return "KILN_OK";
  case KILN_ERR_INVALID_ARGUMENT: return "KILN_ERR_INVALID_ARGUMENT";
  case KILN_ERR_SHAPE: return "KILN_ERR_SHAPE";
  case KILN_ERR_DTYPE: return "KILN_ERR_DTYPE";
  case KILN_ERR_DEVICE: return "KILN_ERR_DEVICE";
  case KILN_ERR_OUT_OF_MEMORY: return "KILN_ERR_OUT_OF_MEMORY";
  case KILN_ERR_UNSUPPORTED: return "KILN_ERR_UNSUPPORTED";
  case KILN_ERR_BACKEND: return "KILN_ERR_BACKEND";
  }
  return "KILN_ERR_UNKNOWN";
}

const char *kiln_last_error(void) { return last_error; }

kiln_status kiln_set_error(kiln_status status, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, args);
  va_end(args);
  return status;
}

const char *kiln_version(void) { return KILN_VERSION_STRING; }
