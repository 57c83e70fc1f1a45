/*
 * Fused attention on the CPU: the length tensors checked before anything is
 * written, then the op cut into tiles (sequence x kv head x a block of
 * query heads and queries, see cpu_attention_tile.h) run by OpenMP threads,
 * each with its own bounded work area: memory is O(threads x tile), never
 * Sq x Sk.
 */
#include "cpu.h"

#include <omp.h>

/* Tiles are scheduled dynamically (causal tiles differ in work); per-thread
 * work areas start on a cache line. */
#define WORK_ALIGN_FLOATS 16

/* How the tiles of one sequence are numbered: per kv head, `chunks` blocks
 * of nh query heads, each with `blocks` blocks of qn queries. */
typedef struct tiling {
  int64_t nh, qn, chunks;
} tiling;

static tiling tiling_of(const kiln_attention_op *op) {
  const int64_t group = op->hq / op->hkv;
  tiling t;
  t.nh = group < CPU_ATTN_ROWS ? group : CPU_ATTN_ROWS;
  t.qn = CPU_ATTN_ROWS / t.nh;
  t.chunks = (group + t.nh - 1) / t.nh;
  return t;
}

static int64_t tiles_of(const kiln_attention_op *op, const tiling *t, int64_t lq) {
  return op->hkv * t->chunks * ((lq + t->qn - 1) / t->qn);
}

/* The sequence holding tile `index`: the last b with first[b] <= index. */
static int64_t sequence_of(const int64_t *first, int64_t batch, int64_t index) {
  int64_t lo = 0, hi = batch - 1;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo + 1) / 2;
    if (first[mid] <= index)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

bool kiln_cpu_attention_wide(const cpu_state *s) {
#if CPU_HAVE_AVX2_VARIANT
  return s->rows != &kiln_cpu_rows_base && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512vl");
#else
  (void)s;
  return false;
#endif
}

/* The tile kernel: the AVX-512 build's where kiln_cpu_attention_wide, else
 * the context's. The builds round differently (FMA in the AVX2 and AVX-512
 * ones, not in the baseline); each gives the same bits whatever the thread
 * count, since one thread computes a whole tile in a fixed order. */
static void (*tile_kernel(const cpu_state *s))(const cpu_attention_tile *) {
#if CPU_HAVE_AVX2_VARIANT
  if (kiln_cpu_attention_wide(s))
    return kiln_cpu_rows_avx512.attention_tile;
#endif
  return s->rows->attention_tile;
}

static kiln_status attention(void *state, const kiln_attention_op *op) {
  cpu_state *s = state;
  const char *fn = kiln_attention_fn(op);
  const kiln_attention_lengths len = {
      .cu_q = op->cu_seqlens_q ? op->cu_seqlens_q->data : NULL,
      .cu_k = op->cu_seqlens_k ? op->cu_seqlens_k->data : NULL,
      .seqlens_k = op->seqlens_k ? op->seqlens_k->data : NULL};
  kiln_status st = kiln_attention_check_lengths(op, &len);
  if (st != KILN_OK)
    return st;
  if (op->batch == 0)
    return KILN_OK;

  const tiling tl = tiling_of(op);
  const int threads = omp_get_max_threads();
  const size_t work = (cpu_attention_work_floats(op->d) + WORK_ALIGN_FLOATS - 1) /
                      WORK_ALIGN_FLOATS * WORK_ALIGN_FLOATS;
  /* The first tile of each sequence (B + 1 counts, as floats' worth of
   * int64), after the threads' work areas. */
  const size_t first_floats = ((size_t)op->batch + 1) * sizeof(int64_t) / sizeof(float);
  float *scratch = kiln_cpu_scratch(s, work * (size_t)threads + first_floats + 2, fn);
  if (!scratch)
    return KILN_ERR_OUT_OF_MEMORY;
  int64_t *first = (int64_t *)(scratch + work * (size_t)threads);
  first[0] = 0;
  double flops = 0; /* a rough size, for whether threads pay off (double: never overflows) */
  for (int64_t b = 0; b < op->batch; b++) {
    kiln_attention_seq seq = kiln_attention_sequence(op, &len, b);
    first[b + 1] = first[b] + tiles_of(op, &tl, seq.lq);
    flops += (double)seq.lq * (double)(seq.lk + 1) * (double)(op->hq * op->d);
  }
  const int64_t tiles = first[op->batch];
  void (*const run_tile)(const cpu_attention_tile *) = tile_kernel(s);
#pragma omp parallel num_threads(threads) if (flops > CPU_PARALLEL_MIN && tiles > 1)
  {
    float *mine = scratch + work * (size_t)omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
    for (int64_t index = 0; index < tiles; index++) {
      const int64_t b = sequence_of(first, op->batch, index);
      cpu_attention_tile t = {.op = op, .seq = kiln_attention_sequence(op, &len, b), .b = b,
                              .work = mine};
      /* index within the sequence: kv head, head chunk, query block */
      int64_t rest = index - first[b];
      const int64_t blocks = (t.seq.lq + tl.qn - 1) / tl.qn;
      const int64_t block = rest % blocks;
      rest /= blocks;
      const int64_t chunk = rest % tl.chunks;
      t.g = rest / tl.chunks;
      const int64_t group = op->hq / op->hkv;
      t.h0 = t.g * group + chunk * tl.nh;
      t.nh = group - chunk * tl.nh < tl.nh ? group - chunk * tl.nh : tl.nh;
      t.i0 = block * tl.qn;
      t.qn = t.seq.lq - t.i0 < tl.qn ? t.seq.lq - t.i0 : tl.qn;
      run_tile(&t);
    }
  }
  return KILN_OK;
}

KILN_CPU_OP(attention, attention, NULL);
