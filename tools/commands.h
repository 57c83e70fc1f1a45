/* The subcommands of the kiln command line; each returns the exit status. */
#ifndef KILN_TOOL_COMMANDS_H
#define KILN_TOOL_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_embed(int argc, char **argv);

#endif
