/* Where the kiln command finds a model when --model is not given. */
#ifndef KILN_TOOL_MODEL_DIR_H
#define KILN_TOOL_MODEL_DIR_H

#include <stdbool.h>
#include <stddef.h>

/* The cached all-MiniLM-L6-v2 that scripts/fetch_model.sh fetches:
 * ${KILN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}/models/all-MiniLM-L6-v2.
 * False when the path does not fit in cap or no home is known. */
bool tool_default_model_dir(char *buf, size_t cap);

/* True when dir/name exists. */
bool tool_model_has(const char *dir, const char *name);

/* Prints to stderr, for command cmd, that the default model is missing from
 * dir and how to fetch it. */
void tool_model_missing(const char *cmd, const char *dir);

#endif
