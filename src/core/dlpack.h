/*
 * The DLPack ABI, written here from the specification
 * (https://dmlc.github.io/dlpack/latest/c_api.html), for the parts kiln
 * reads and writes. DLPack is a binary standard: what matters is that the
 * layouts and the numbers below are the specification's; the names follow
 * it so a reader can check them line by line.
 *
 * Two managed forms exist. The legacy DLManagedTensor (before 1.0) has no
 * version and no flags; DLManagedTensorVersioned (1.0 and later) starts with
 * its version, so a consumer can refuse a major version it does not know
 * before reading anything else, and carries flags (read-only, copied).
 *
 * Not public: kiln.h only forward-declares the two managed structs, so a
 * program may include its own dlpack.h (of any 1.x version) beside kiln.h.
 */
#ifndef KILN_CORE_DLPACK_H
#define KILN_CORE_DLPACK_H

#include <stdint.h>

/* The version kiln writes into what it exports, and the major version it
 * reads. Minor versions only add enum values and flag bits, so any 1.x is
 * read; 1.0 is written because every 1.x consumer accepts it. */
#define KILN_DLPACK_MAJOR 1
#define KILN_DLPACK_MINOR 0

typedef struct DLPackVersion {
  uint32_t major;
  uint32_t minor;
} DLPackVersion;

/* The specification's device types (an enum of int size in C). */
typedef enum {
  kDLCPU = 1,
  kDLCUDA = 2,
  kDLCUDAHost = 3, /* pinned host memory, from cudaMallocHost */
  kDLOpenCL = 4,
  kDLVulkan = 7,
  kDLMetal = 8,
  kDLVPI = 9,
  kDLROCM = 10,
  kDLROCMHost = 11,
  kDLExtDev = 12,
  kDLCUDAManaged = 13, /* cudaMallocManaged */
  kDLOneAPI = 14,
  kDLWebGPU = 15,
  kDLHexagon = 16,
  kDLMAIA = 17,
} DLDeviceType;

typedef struct DLDevice {
  DLDeviceType device_type;
  int32_t device_id;
} DLDevice;

/* Type codes; kiln reads and writes kDLInt 32, kDLFloat 32 and 16, and
 * kDLBfloat 16, each with one lane. */
typedef enum {
  kDLInt = 0,
  kDLUInt = 1,
  kDLFloat = 2,
  kDLOpaqueHandle = 3,
  kDLBfloat = 4,
  kDLComplex = 5,
  kDLBool = 6,
} DLDataTypeCode;

typedef struct DLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
} DLDataType;

/* data + byte_offset is the first element. strides, in elements, may be
 * NULL before DLPack 1.2 for a compact row-major tensor; kiln always
 * writes them. */
typedef struct DLTensor {
  void *data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t *shape;
  int64_t *strides;
  uint64_t byte_offset;
} DLTensor;

/* Legacy: the producer's deleter frees everything (NULL: nothing to do). */
typedef struct DLManagedTensor {
  DLTensor dl_tensor;
  void *manager_ctx;
  void (*deleter)(struct DLManagedTensor *self);
} DLManagedTensor;

/* Flag bits of DLManagedTensorVersioned.flags. */
#define DLPACK_FLAG_BITMASK_READ_ONLY (UINT64_C(1) << 0)
#define DLPACK_FLAG_BITMASK_IS_COPIED (UINT64_C(1) << 1)
#define DLPACK_FLAG_BITMASK_IS_SUBBYTE_TYPE_PADDED (UINT64_C(1) << 2) /* 1.1 */

typedef struct DLManagedTensorVersioned {
  DLPackVersion version;
  void *manager_ctx;
  void (*deleter)(struct DLManagedTensorVersioned *self);
  uint64_t flags;
  DLTensor dl_tensor;
} DLManagedTensorVersioned;

#endif /* KILN_CORE_DLPACK_H */
