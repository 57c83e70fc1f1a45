/* The kiln command line: dispatches to one subcommand per file. */
#include "commands.h"

#include <kiln.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char usage[] = "usage: kiln <command> [options]\n"
                            "  info    version, backends built, devices found\n"
                            "  bench   time the cases of bench/cases.tsv (kiln bench --help)\n"
                            "  tokenize  token ids of each input line (kiln tokenize --help)\n";

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "info") == 0)
    return cmd_info(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "bench") == 0)
    return cmd_bench(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "tokenize") == 0)
    return cmd_tokenize(argc - 1, argv + 1);
  if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
    printf("kiln %s\n", kiln_version());
    return 0;
  }
  bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0);
  fputs(usage, help ? stdout : stderr);
  return help ? 0 : 2;
}
