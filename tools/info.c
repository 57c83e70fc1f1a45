/* `kiln info`: what this build of kiln can run on, here. */
#include "commands.h"
#include "check.h"

#include <stdio.h>
#include <string.h>

/* One device kind: how many, and a line from each device's own context.
 * With none, the reason comes from trying to create one anyway, which tells
 * a build without the backend from a machine without the device. */
static int describe_kind(kiln_device kind, const char *name) {
  int count = kiln_device_count(kind);
  printf("%s: %d device%s\n", name, count, count == 1 ? "" : "s");
  if (count == 0) {
    kiln_context *ctx = NULL;
    if (kiln_context_create(kind, 0, &ctx) != KILN_OK)
      printf("  (%s)\n", kiln_last_error());
    kiln_context_destroy(ctx);
    return 0;
  }
  int failed = 0;
  for (int i = 0; i < count; i++) {
    kiln_context *ctx = NULL;
    if (tool_ok(kiln_context_create(kind, i, &ctx), "kiln_context_create"))
      printf("  %s\n", kiln_context_describe(ctx));
    else
      failed = 1;
    kiln_context_destroy(ctx);
  }
  return failed;
}

int cmd_info(int argc, char **argv) {
  static const char usage[] = "usage: kiln info\n";
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(usage, stdout);
    return 0;
  }
  if (argc > 1)
    return tool_usage_error(usage, "info", "unexpected argument '%s'", argv[1]);
  printf("kiln %s (header %d.%d.%d)\n", kiln_version(), KILN_VERSION_MAJOR, KILN_VERSION_MINOR,
         KILN_VERSION_PATCH);
  int failed = describe_kind(KILN_DEVICE_CPU, "cpu");
  failed |= describe_kind(KILN_DEVICE_CUDA, "cuda");
  return failed;
}
