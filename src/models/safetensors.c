#define _POSIX_C_SOURCE 200809L /* mmap, strdup, O_CLOEXEC */
/* The safetensors reader: map, parse the JSON header with cJSON, check
 * everything it says against the file, then hand out pointers. */
#include "safetensors.h"

#include "kiln.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation refuses headers over 100 MB as well. */
#define ST_MAX_HEADER ((uint64_t)100 << 20)
/* Integers in the header are read through doubles; above 2^53 they are no
 * longer exact, and no real file comes near. */
#define ST_MAX_INT 9007199254740992.0

struct kiln_safetensors {
  char *path;
  void *map; /* the mapping when we own one, else NULL */
  size_t map_size;
  const unsigned char *data; /* first byte after the header */
  size_t data_size;
  kiln_st_tensor *tensors; /* sorted by data offset */
  int64_t count;
  const kiln_st_tensor **by_name; /* sorted by name, for kiln_st_find */
  char *names;                    /* every name, NUL-separated */
};

static const struct {
  const char *name;
  size_t size;
} DTYPES[KILN_ST_DTYPE_COUNT] = {
    [KILN_ST_BOOL] = {"BOOL", 1}, [KILN_ST_U8] = {"U8", 1},   [KILN_ST_I8] = {"I8", 1},
    [KILN_ST_I16] = {"I16", 2},   [KILN_ST_U16] = {"U16", 2}, [KILN_ST_F16] = {"F16", 2},
    [KILN_ST_BF16] = {"BF16", 2}, [KILN_ST_I32] = {"I32", 4}, [KILN_ST_U32] = {"U32", 4},
    [KILN_ST_F32] = {"F32", 4},   [KILN_ST_F64] = {"F64", 8}, [KILN_ST_I64] = {"I64", 8},
    [KILN_ST_U64] = {"U64", 8},
};

size_t kiln_st_dtype_size(kiln_st_dtype dtype) {
  return (unsigned)dtype < KILN_ST_DTYPE_COUNT ? DTYPES[dtype].size : 0;
}

const char *kiln_st_dtype_name(kiln_st_dtype dtype) {
  return (unsigned)dtype < KILN_ST_DTYPE_COUNT ? DTYPES[dtype].name : "?";
}

static const char *FN = "kiln_st_open";

/* An integer in [0, 2^53] from a JSON number, else false. */
static bool json_uint(const cJSON *v, uint64_t *out) {
  if (!cJSON_IsNumber(v))
    return false;
  const double d = v->valuedouble;
  if (!(d >= 0.0 && d <= ST_MAX_INT) || d != floor(d))
    return false;
  *out = (uint64_t)d;
  return true;
}

/* One tensor entry of the header into t, checked against the data size. */
static kiln_status parse_entry(const kiln_safetensors *st, const cJSON *e, kiln_st_tensor *t) {
  const char *name = e->string;
  if (!cJSON_IsObject(e))
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: tensor '%s' is not a JSON object", FN,
                     st->path, name);
  const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
  const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
  if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                     "%s: %s: tensor '%s' needs a string \"dtype\" and arrays \"shape\" and "
                     "\"data_offsets\"",
                     FN, st->path, name);
  int dt = -1;
  for (int i = 0; i < KILN_ST_DTYPE_COUNT; i++)
    if (strcmp(dtype->valuestring, DTYPES[i].name) == 0)
      dt = i;
  if (dt < 0)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: tensor '%s' has unknown dtype \"%.32s\"",
                     FN, st->path, name, dtype->valuestring);
  t->dtype = (kiln_st_dtype)dt;
  const size_t esize = DTYPES[dt].size;

  const int ndim = cJSON_GetArraySize(shape);
  if (ndim > KILN_ST_MAX_DIMS)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: tensor '%s' has %d dims (at most %d)",
                     FN, st->path, name, ndim, KILN_ST_MAX_DIMS);
  t->ndim = ndim;
  uint64_t numel = 1, bytes = esize;
  bool overflow = false;
  int i = 0;
  for (const cJSON *d = shape->child; d; d = d->next, i++) {
    uint64_t v;
    if (!json_uint(d, &v))
      return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                       "%s: %s: tensor '%s': shape[%d] is not a non-negative integer", FN,
                       st->path, name, i);
    t->shape[i] = (int64_t)v;
    overflow |= __builtin_mul_overflow(numel, v, &numel);
    overflow |= __builtin_mul_overflow(bytes, v, &bytes);
  }
  if (overflow || numel > (uint64_t)INT64_MAX || bytes > SIZE_MAX)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                     "%s: %s: tensor '%s': the size of its shape overflows", FN, st->path, name);
  t->numel = (int64_t)numel;

  uint64_t begin, end;
  if (cJSON_GetArraySize(offs) != 2 || !json_uint(offs->child, &begin) ||
      !json_uint(offs->child->next, &end))
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                     "%s: %s: tensor '%s': data_offsets must be two non-negative integers", FN,
                     st->path, name);
  if (begin > end || end > st->data_size)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                     "%s: %s: tensor '%s': data_offsets [%llu, %llu] outside the %zu bytes of "
                     "data",
                     FN, st->path, name, (unsigned long long)begin, (unsigned long long)end,
                     st->data_size);
  if (end - begin != bytes)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                     "%s: %s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s %s "
                     "needs %llu",
                     FN, st->path, name, (unsigned long long)begin, (unsigned long long)end,
                     (unsigned long long)(end - begin), DTYPES[dt].name,
                     ndim ? "of its shape" : "scalar", (unsigned long long)bytes);
  /* The format keeps the header padded so that data stays aligned; a
   * misaligned tensor means a damaged or hand-made file. */
  if ((uintptr_t)(st->data + begin) % esize != 0)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                     "%s: %s: tensor '%s' at data offset %llu is not aligned to its %zu-byte "
                     "elements",
                     FN, st->path, name, (unsigned long long)begin, esize);
  t->data = st->data + begin;
  t->nbytes = (size_t)bytes;
  return KILN_OK;
}

static int by_offset(const void *pa, const void *pb) {
  const kiln_st_tensor *a = pa, *b = pb;
  if (a->data != b->data)
    return (uintptr_t)a->data < (uintptr_t)b->data ? -1 : 1;
  if (a->nbytes != b->nbytes)
    return a->nbytes < b->nbytes ? -1 : 1;
  return strcmp(a->name, b->name);
}

static int by_name(const void *pa, const void *pb) {
  const kiln_st_tensor *const *a = pa, *const *b = pb;
  return strcmp((*a)->name, (*b)->name);
}

static kiln_status check_metadata(const kiln_safetensors *st, const cJSON *meta) {
  if (!cJSON_IsObject(meta))
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: __metadata__ is not a JSON object", FN,
                     st->path);
  for (const cJSON *m = meta->child; m; m = m->next)
    if (!cJSON_IsString(m))
      return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                       "%s: %s: __metadata__ value '%s' is not a string", FN, st->path,
                       m->string);
  return KILN_OK;
}

/* Everything after the mapping: header parse and checks. */
static kiln_status parse(kiln_safetensors *st, const unsigned char *bytes, size_t size) {
  if (size < 8)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                     "%s: %s: %zu bytes, shorter than the 8-byte header length", FN, st->path,
                     size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--)
    n = n << 8 | bytes[i];
  if (n > size - 8)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                     "%s: %s: header length %llu runs past the end of the %zu-byte file", FN,
                     st->path, (unsigned long long)n, size);
  if (n > ST_MAX_HEADER)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: header of %llu bytes (at most %llu)",
                     FN, st->path, (unsigned long long)n, (unsigned long long)ST_MAX_HEADER);
  st->data = bytes + 8 + n;
  st->data_size = size - 8 - (size_t)n;

  cJSON *root = cJSON_ParseWithLength((const char *)bytes + 8, (size_t)n);
  if (!root)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: the header is not valid JSON", FN,
                     st->path);
  kiln_status s = KILN_OK;
  if (!cJSON_IsObject(root)) {
    s = kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: the header is not a JSON object", FN,
                  st->path);
    goto done;
  }
  int64_t count = 0;
  size_t name_bytes = 0;
  for (const cJSON *e = root->child; e; e = e->next) {
    if (strcmp(e->string, "__metadata__") == 0)
      continue;
    count++;
    name_bytes += strlen(e->string) + 1;
  }
  st->tensors = calloc(count ? (size_t)count : 1, sizeof *st->tensors);
  st->by_name = calloc(count ? (size_t)count : 1, sizeof *st->by_name);
  st->names = malloc(name_bytes ? name_bytes : 1);
  if (!st->tensors || !st->by_name || !st->names) {
    s = kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: %s: out of memory for %lld tensor records", FN,
                  st->path, (long long)count);
    goto done;
  }
  char *name_at = st->names;
  int64_t i = 0;
  for (const cJSON *e = root->child; e; e = e->next) {
    if (strcmp(e->string, "__metadata__") == 0) {
      if ((s = check_metadata(st, e)) != KILN_OK)
        goto done;
      continue;
    }
    kiln_st_tensor *t = &st->tensors[i];
    const size_t len = strlen(e->string) + 1;
    memcpy(name_at, e->string, len);
    t->name = name_at;
    name_at += len;
    if ((s = parse_entry(st, e, t)) != KILN_OK)
      goto done;
    st->by_name[i] = t;
    i++;
  }
  st->count = count;

  qsort(st->tensors, (size_t)count, sizeof *st->tensors, by_offset);
  /* Sorting moved the records: point by_name at their new places. */
  for (int64_t j = 0; j < count; j++)
    st->by_name[j] = &st->tensors[j];
  const unsigned char *prev_end = st->data;
  const char *prev_name = NULL;
  for (int64_t j = 0; j < count; j++) {
    const kiln_st_tensor *t = &st->tensors[j];
    if (t->nbytes == 0)
      continue;
    const unsigned char *b = t->data;
    if (b < prev_end) {
      s = kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                    "%s: %s: tensors '%s' and '%s' overlap in the data", FN, st->path,
                    prev_name, t->name);
      goto done;
    }
    prev_end = b + t->nbytes;
    prev_name = t->name;
  }
  qsort(st->by_name, (size_t)count, sizeof *st->by_name, by_name);
  for (int64_t j = 1; j < count; j++)
    if (strcmp(st->by_name[j - 1]->name, st->by_name[j]->name) == 0) {
      s = kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: tensor '%s' appears twice", FN,
                    st->path, st->by_name[j]->name);
      goto done;
    }
done:
  cJSON_Delete(root);
  return s;
}

static kiln_safetensors *new_reader(const char *name) {
  kiln_safetensors *st = calloc(1, sizeof *st);
  if (!st)
    return NULL;
  st->path = strdup(name ? name : "(memory)");
  if (!st->path) {
    free(st);
    return NULL;
  }
  return st;
}

kiln_status kiln_st_open_memory(const void *bytes, size_t size, const char *name,
                                kiln_safetensors **out) {
  if (!out)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: out is NULL", FN);
  *out = NULL;
  if (!bytes && size)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: bytes is NULL", FN);
  kiln_safetensors *st = new_reader(name);
  if (!st)
    return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", FN);
  kiln_status s = parse(st, bytes, size);
  if (s != KILN_OK) {
    kiln_st_close(st);
    return s;
  }
  *out = st;
  return KILN_OK;
}

kiln_status kiln_st_open(const char *path, kiln_safetensors **out) {
  if (!out)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: out is NULL", FN);
  *out = NULL;
  if (!path)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: path is NULL", FN);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: cannot open %s: %s", FN, path,
                     strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s is not a regular file", FN, path);
  }
  kiln_safetensors *st = new_reader(path);
  if (!st) {
    close(fd);
    return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", FN);
  }
  const size_t size = (size_t)sb.st_size;
  const unsigned char *bytes = (const unsigned char *)"";
  if (size > 0) {
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      close(fd);
      kiln_st_close(st);
      return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: cannot map %s: %s", FN, path,
                       strerror(errno));
    }
    st->map = m;
    st->map_size = size;
    bytes = m;
  }
  close(fd);
  kiln_status s = parse(st, bytes, size);
  if (s != KILN_OK) {
    kiln_st_close(st);
    return s;
  }
  *out = st;
  return KILN_OK;
}

void kiln_st_close(kiln_safetensors *st) {
  if (!st)
    return;
  if (st->map)
    munmap(st->map, st->map_size);
  free(st->tensors);
  free(st->by_name);
  free(st->names);
  free(st->path);
  free(st);
}

int64_t kiln_st_count(const kiln_safetensors *st) { return st ? st->count : 0; }

const kiln_st_tensor *kiln_st_at(const kiln_safetensors *st, int64_t i) {
  return st && i >= 0 && i < st->count ? &st->tensors[i] : NULL;
}

const kiln_st_tensor *kiln_st_find(const kiln_safetensors *st, const char *name) {
  if (!st || !name || st->count == 0)
    return NULL;
  kiln_st_tensor key = {.name = name};
  const kiln_st_tensor *pkey = &key;
  const kiln_st_tensor *const *hit =
      bsearch(&pkey, st->by_name, (size_t)st->count, sizeof *st->by_name, by_name);
  return hit ? *hit : NULL;
}

const char *kiln_st_path(const kiln_safetensors *st) { return st ? st->path : ""; }

kiln_status kiln_st_to_f32(const kiln_st_tensor *t, float *dst, const char *fn) {
  const size_t n = (size_t)t->numel;
  switch (t->dtype) {
  case KILN_ST_F32:
    memcpy(dst, t->data, n * sizeof(float));
    return KILN_OK;
  case KILN_ST_F16:
    kiln_f16_to_f32(t->data, dst, n);
    return KILN_OK;
  case KILN_ST_BF16:
    kiln_bf16_to_f32(t->data, dst, n);
    return KILN_OK;
  case KILN_ST_F64: {
    const double *src = t->data;
    for (size_t i = 0; i < n; i++)
      dst[i] = (float)src[i];
    return KILN_OK;
  }
  default:
    return kiln_set_error(KILN_ERR_DTYPE, "%s: tensor '%s' is %s; weights must be F32, F16, BF16 or F64",
                     fn, t->name, kiln_st_dtype_name(t->dtype));
  }
}
