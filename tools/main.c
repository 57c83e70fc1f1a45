/* The kiln command line: dispatches to one subcommand per file. */
#include "check.h"
#include "commands.h"

#include <kiln.h>
#include <stdio.h>
#include <string.h>

static const char usage[] = "usage: kiln <command> [options]\n"
                            "  info    version, backends built, devices found\n"
                            "  bench   time the cases of bench/cases.tsv (kiln bench --help)\n"
                            "  tokenize  token ids of each input line (kiln tokenize --help)\n"
                            "  embed   sentence embeddings of text lines (kiln embed --help)\n";

int main(int argc, char **argv) {
  if (argc < 2)
    return tool_usage_error(usage, NULL, "no command given");
  const char *cmd = argv[1];
  if (strcmp(cmd, "info") == 0)
    return cmd_info(argc - 1, argv + 1);
  if (strcmp(cmd, "bench") == 0)
    return cmd_bench(argc - 1, argv + 1);
  if (strcmp(cmd, "tokenize") == 0)
    return cmd_tokenize(argc - 1, argv + 1);
  if (strcmp(cmd, "embed") == 0)
    return cmd_embed(argc - 1, argv + 1);
  if (strcmp(cmd, "--version") == 0) {
    printf("kiln %s\n", kiln_version());
    return 0;
  }
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  return tool_usage_error(usage, NULL, cmd[0] == '-' ? "unknown option '%s'" : "unknown command '%s'",
                          cmd);
}
