/*
 * A reader for the safetensors format: an 8-byte little-endian header
 * length N, N bytes of JSON describing every tensor, then the raw data.
 *
 *   { "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
 *     "__metadata__": {"key": "string", ...} }
 *
 * Offsets count from the first byte after the header. Everything the header
 * says is checked against the file when it is opened, before any tensor's
 * data is looked at: each dtype known, each shape a list of non-negative
 * integers whose product (times the element size) does not overflow and
 * equals end - begin, each range inside the data, aligned to its element
 * size, and apart from every other range; names unique. After a successful
 * open every kiln_st_tensor points at exactly its own bytes.
 *
 * Internal to kiln (src/models/); not part of the public API.
 */
#ifndef KILN_MODELS_SAFETENSORS_H
#define KILN_MODELS_SAFETENSORS_H

#include "kiln.h"

#include <stddef.h>
#include <stdint.h>

typedef enum kiln_st_dtype {
  KILN_ST_BOOL,
  KILN_ST_U8,
  KILN_ST_I8,
  KILN_ST_I16,
  KILN_ST_U16,
  KILN_ST_F16,
  KILN_ST_BF16,
  KILN_ST_I32,
  KILN_ST_U32,
  KILN_ST_F32,
  KILN_ST_F64,
  KILN_ST_I64,
  KILN_ST_U64,
  KILN_ST_DTYPE_COUNT
} kiln_st_dtype;

/* The format allows any rank; kiln takes up to 8 dims. */
#define KILN_ST_MAX_DIMS 8

typedef struct kiln_st_tensor {
  const char *name;
  kiln_st_dtype dtype;
  int ndim; /* 0 for a scalar */
  int64_t shape[KILN_ST_MAX_DIMS];
  int64_t numel;
  const void *data; /* inside the mapping; aligned to the element size */
  size_t nbytes;
} kiln_st_tensor;

typedef struct kiln_safetensors kiln_safetensors;

/* Maps path read-only and validates it. Errors name the file and what is
 * wrong with it: KILN_ERR_INVALID_ARGUMENT for a file that cannot be read or
 * is not valid safetensors, KILN_ERR_OUT_OF_MEMORY. *out NULL on failure. */
kiln_status kiln_st_open(const char *path, kiln_safetensors **out);

/* The same over bytes the caller owns (they must outlive the reader);
 * name is used in messages. For tests and the fuzzer. */
kiln_status kiln_st_open_memory(const void *bytes, size_t size, const char *name,
                                kiln_safetensors **out);

/* Unmaps and frees. NULL is fine. */
void kiln_st_close(kiln_safetensors *st);

int64_t kiln_st_count(const kiln_safetensors *st);
/* Tensors in the order of their data offsets; i in [0, count). */
const kiln_st_tensor *kiln_st_at(const kiln_safetensors *st, int64_t i);
/* The tensor called name, or NULL. */
const kiln_st_tensor *kiln_st_find(const kiln_safetensors *st, const char *name);
/* The path or name given at open. */
const char *kiln_st_path(const kiln_safetensors *st);

/* Bytes per element; "F32" and the other names of the format. */
size_t kiln_st_dtype_size(kiln_st_dtype dtype);
const char *kiln_st_dtype_name(kiln_st_dtype dtype);

/* Converts a float tensor (F32, F16, BF16 or F64) to f32, numel elements
 * into dst. KILN_ERR_DTYPE, naming fn and the tensor, for other dtypes. */
kiln_status kiln_st_to_f32(const kiln_st_tensor *t, float *dst, const char *fn);

#endif /* KILN_MODELS_SAFETENSORS_H */
