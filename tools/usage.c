/* Usage errors: one line that says what was wrong, then the usage, exit 2,
 * the same for every subcommand. */
#include "check.h"

#include <stdarg.h>
#include <stdio.h>

int tool_usage_error(const char *usage, const char *command, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (command)
    fprintf(stderr, "kiln %s: ", command);
  else
    fputs("kiln: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fputs(usage, stderr);
  return 2;
}
