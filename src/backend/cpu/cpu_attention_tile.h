/*
 * One tile of the CPU's fused attention (cpu_attention.c runs the tiles in
 * parallel): up to CPU_ATTN_ROWS query rows, nh heads of one kv group times
 * qn consecutive queries, against the keys of their sequence in blocks of
 * CPU_ATTN_KEYS, with the online softmax (a running max m and sum l per row,
 * the output accumulator rescaled when the max grows), so nothing of size
 * Sq x Sk ever exists. All arithmetic in f32; 16-bit inputs are widened as
 * they are loaded, and each K and V block is read (or widened) once for
 * every row of the tile (the whole kv group shares it: grouped-query
 * attention reads its cache once per tile, not once per head).
 *
 * Part of cpu_rows.h (its row_max and block_sum), so it is
 * compiled once per instruction-set variant like the other row kernels.
 */

/* Eight floats as one value (GCC and clang vector extensions): an AVX
 * register in the AVX2 build, two SSE registers in the baseline. aligned(4)
 * makes loads and stores through it unaligned ones. */
typedef float attn_v8 __attribute__((vector_size(32), aligned(4)));

/* The score and P.V micro-kernels' vector: ATTN_W floats, 8 unless the
 * includer (cpu_rows_avx512.c) asks for 16. */
#ifndef ATTN_W
#define ATTN_W 8
#endif
typedef float attn_vec __attribute__((vector_size(ATTN_W * 4), aligned(4)));

/* acc += x * k (x a float, k an attn_vec) and acc += a * b (attn_v8): one
 * fused multiply-add, rounded once, where the includer defines ATTN_FMA
 * (the AVX2 and AVX-512 builds: twice the multiply-add rate of a separate
 * multiply and add); both rounded in the baseline. So the builds differ in
 * their last bits, not in accuracy; each still sums every score and output
 * column in one fixed order, whatever the threads. */
#ifdef ATTN_FMA
#define ATTN_MADD(acc, x, k) ((acc) = ATTN_FMA(ATTN_SPLAT(x), (k), (acc)))
#define ATTN_MADD8(acc, a, b) ((acc) = ATTN_FMA8((a), (b), (acc)))
#define ATTN_FMAF(a, b, c) __builtin_fmaf((a), (b), (c))
#else
#define ATTN_MADD(acc, x, k) ((acc) += (x) * (k))
#define ATTN_MADD8(acc, a, b) ((acc) += (a) * (b))
#define ATTN_FMAF(a, b, c) ((a) * (b) + (c))
#endif

/* e^t for t <= 0: exp_nonpositive's method (cpu_rows.h: t = n ln2 + r, a
 * degree-5 polynomial for e^r, 2^n in the exponent bits, 0 below -87, NaN
 * stays NaN) with its multiply-adds fused where the build has FMA (in a
 * loop, __builtin_fmaf vectorizes to vfmadd): the attention tiles compute
 * one per score, a good part of their work at small D. */
static inline float attn_exp(float t) {
  const float lowest = -87.0f;
  const float round_magic = 0x1.8p23f; /* adding it rounds to an integer */
  const float c = kiln_float(kiln_pick(t < lowest, kiln_bits(lowest), kiln_bits(t)));
  const float shifted = ATTN_FMAF(c, 1.44269504f, round_magic);
  const float n = shifted - round_magic;
  const float r = ATTN_FMAF(n, 2.12194440e-4f, ATTN_FMAF(n, -0.693359375f, c));
  float p = 1.9875691500e-4f;
  p = ATTN_FMAF(p, r, 1.3981999507e-3f);
  p = ATTN_FMAF(p, r, 8.3334519073e-3f);
  p = ATTN_FMAF(p, r, 4.1665795894e-2f);
  p = ATTN_FMAF(p, r, 1.6666665459e-1f);
  p = ATTN_FMAF(p, r, 5.0000001201e-1f);
  p = ATTN_FMAF(p, r * r, r + 1.0f);
  const float pow2 = kiln_float((kiln_bits(shifted) - kiln_bits(round_magic) + 127u) << 23);
  return kiln_float(kiln_pick(t < lowest, 0, kiln_bits(p * pow2)));
}

/* Where a block's score (row r, key j) lies in st: transposed for tiles of
 * many rows (st[j * CPU_ATTN_ROWS + r]: the softmax runs down the keys with
 * the rows as vector lanes), row-major for a few (st[r * CPU_ATTN_KEYS + j]:
 * each row's keys are the lanes). */
typedef struct attn_layout {
  int64_t row, key; /* strides */
} attn_layout;

static attn_layout attn_layout_of(bool few) {
  return few ? (attn_layout){CPU_ATTN_KEYS, 1} : (attn_layout){1, CPU_ATTN_ROWS};
}

/* Scores are kept transposed, st[j * CPU_ATTN_ROWS + r] for key j and row
 * r: the online softmax then runs down the keys with the tile's rows as
 * vector lanes, and the score kernel needs no transposed K block, only a
 * transposed Q, made once per tile rather than once per key block.
 *
 * The score micro-kernel: ATTN_SCORE_KEYS keys times up to ATTN_SCORE_VECS
 * vectors of rows, that many accumulators held over all of D, each q load
 * used by every key and each broadcast key element by every row vector
 * (AVX-512: 4 x 4 accumulators of its 32 registers; AVX2, 16 registers in
 * all: 4 x 2). */
#define ATTN_SCORE_KEYS 4
#if ATTN_W == 16
#define ATTN_SCORE_VECS 4
#else
#define ATTN_SCORE_VECS 2
#endif

/* The P.V micro-kernel: ATTN_PV_ROWS rows times up to ATTN_PV_VECS vectors
 * of output columns, accumulators held over all the block's keys, each V
 * load used by every row. */
#define ATTN_PV_ROWS 4
#define ATTN_PV_VECS ATTN_SCORE_VECS

/* The next block's K rows, which the score kernel asks for while it runs,
 * ATTN_SCORE_KEYS per step of keys, so that their misses overlap its
 * arithmetic. Rows of one head lie a token's whole width apart, where the
 * hardware prefetcher does not follow; asked for all at once they would
 * wait on each other for the few misses a core keeps in flight. (Asking
 * for the block's V rows the same way measured no faster: they are read
 * soon after, mostly from L2.) */
typedef struct attn_ahead {
  const char *base;
  int64_t stride; /* bytes from one row to the next */
  int64_t count;  /* rows */
  int64_t bytes;  /* of each row */
} attn_ahead;

static inline void attn_ask(const attn_ahead *ah, int64_t j) {
  for (int64_t r = j; r < j + ATTN_SCORE_KEYS && r < ah->count; r++)
    for (int64_t b = 0; b < ah->bytes; b += 64)
      __builtin_prefetch(ah->base + r * ah->stride + b);
}

/* st[j][r0 + ...] = k[j] . qt[:, r0 + ...] for keys j < n rounded up to
 * ATTN_SCORE_KEYS and nv vectors of rows from qt on (qt, st: the column of
 * the tile's first such row). K rows lie ks apart (in the tensor for f32:
 * each element is read once per tile and block, so a copy would only add
 * to it); a step past the last key reads key n - 1 again, its scores land
 * in st rows nothing reads. qt is [d, CPU_ATTN_ROWS]. nv is a constant at
 * each call (attn_scores), so the accumulator arrays become registers. */
static inline __attribute__((always_inline)) void
attn_scores_vecs(const float *qt, const float *kb, int64_t ks, int64_t n, int64_t d, float *st,
                 const attn_ahead *ah, const int nv) {
  for (int64_t j = 0; j < n; j += ATTN_SCORE_KEYS) {
    if (ah)
      attn_ask(ah, j);
    attn_vec acc[ATTN_SCORE_KEYS][ATTN_SCORE_VECS] = {{{0}}};
    const float *k[ATTN_SCORE_KEYS];
    for (int kk = 0; kk < ATTN_SCORE_KEYS; kk++)
      k[kk] = kb + (j + kk < n ? j + kk : n - 1) * ks;
    for (int64_t p = 0; p < d; p++) {
      const attn_vec *q = (const attn_vec *)(qt + p * CPU_ATTN_ROWS);
      attn_vec b[ATTN_SCORE_VECS];
      for (int v = 0; v < nv; v++)
        b[v] = q[v];
      for (int kk = 0; kk < ATTN_SCORE_KEYS; kk++) {
        const float x = k[kk][p];
        for (int v = 0; v < nv; v++)
          ATTN_MADD(acc[kk][v], x, b[v]);
      }
    }
    for (int kk = 0; kk < ATTN_SCORE_KEYS; kk++)
      for (int v = 0; v < nv; v++)
        *(attn_vec *)(st + (j + kk) * CPU_ATTN_ROWS + v * ATTN_W) = acc[kk][v];
  }
}

/* The scores of a block for the tile's `rows` rows, in groups of
 * ATTN_SCORE_VECS row vectors (qt's columns past the tile's rows are zeros,
 * so their scores are too); the first group asks for ah's rows. */
static void attn_scores(const float *qt, const float *kb, int64_t ks, int64_t rows, int64_t n,
                        int64_t d, float *st, const attn_ahead *ah) {
  for (int64_t r0 = 0; r0 < rows; r0 += ATTN_SCORE_VECS * ATTN_W) {
    const int64_t left = (rows - r0 + ATTN_W - 1) / ATTN_W;
    const float *q = qt + r0;
    float *s = st + r0;
    if (r0 > 0)
      ah = NULL;
    switch (left < ATTN_SCORE_VECS ? left : ATTN_SCORE_VECS) {
    case 1: attn_scores_vecs(q, kb, ks, n, d, s, ah, 1); break;
#if ATTN_SCORE_VECS > 2
    case 2: attn_scores_vecs(q, kb, ks, n, d, s, ah, 2); break;
    case 3: attn_scores_vecs(q, kb, ks, n, d, s, ah, 3); break;
#endif
    default: attn_scores_vecs(q, kb, ks, n, d, s, ah, ATTN_SCORE_VECS); break;
    }
  }
}

/* acc[r0 + rr][c0 + ...] += sum_j p(r0 + rr, j) v[j][c0 + ...] over keys
 * j < n, for ATTN_PV_ROWS rows and nv vectors of columns (acc, p, v: at the
 * group's first row and column; p laid out as `at` says). v rows lie vs
 * apart. */
static inline __attribute__((always_inline)) void
attn_pv_vecs(float *acc, const float *p, attn_layout at, const float *v, int64_t vs, int64_t n,
             int64_t d, const int nv) {
  attn_vec a[ATTN_PV_ROWS][ATTN_PV_VECS];
  for (int rr = 0; rr < ATTN_PV_ROWS; rr++)
    for (int c = 0; c < nv; c++)
      a[rr][c] = *(const attn_vec *)(acc + rr * d + c * ATTN_W);
  for (int64_t j = 0; j < n; j++) {
    const attn_vec *vj = (const attn_vec *)(v + j * vs);
    attn_vec b[ATTN_PV_VECS];
    for (int c = 0; c < nv; c++)
      b[c] = vj[c];
    for (int rr = 0; rr < ATTN_PV_ROWS; rr++) {
      const float x = p[j * at.key + rr * at.row];
      for (int c = 0; c < nv; c++)
        ATTN_MADD(a[rr][c], x, b[c]);
    }
  }
  for (int rr = 0; rr < ATTN_PV_ROWS; rr++)
    for (int c = 0; c < nv; c++)
      *(attn_vec *)(acc + rr * d + c * ATTN_W) = a[rr][c];
}

/* acc[r][0..d) += sum_j p(r, j) v[j][0..d) for keys j < n and the tile's
 * rows rounded up to ATTN_PV_ROWS (st, laid out as `at` says, holds zeros
 * in the rows past the tile's): groups of ATTN_PV_VECS column vectors, then
 * one group of the whole vectors left, then single columns. v rows lie vs
 * apart. */
static void attn_accumulate(float *acc, const float *st, attn_layout at, const float *v,
                            int64_t vs, int64_t rows, int64_t n, int64_t d) {
  for (int64_t r0 = 0; r0 < rows; r0 += ATTN_PV_ROWS) {
    float *a = acc + r0 * d;
    const float *p = st + r0 * at.row;
    int64_t c0 = 0;
    for (; c0 + ATTN_PV_VECS * ATTN_W <= d; c0 += ATTN_PV_VECS * ATTN_W)
      attn_pv_vecs(a + c0, p, at, v + c0, vs, n, d, ATTN_PV_VECS);
    /* the whole vectors left in one pass: as many accumulators as there
     * are (D 32: 2 x 4, not 1 x 4 twice, which would wait on the
     * multiply-add latency) */
    switch ((d - c0) / ATTN_W) {
    case 1: attn_pv_vecs(a + c0, p, at, v + c0, vs, n, d, 1); break;
#if ATTN_PV_VECS > 2
    case 2: attn_pv_vecs(a + c0, p, at, v + c0, vs, n, d, 2); break;
    case 3: attn_pv_vecs(a + c0, p, at, v + c0, vs, n, d, 3); break;
#endif
    default: break;
    }
    c0 += (d - c0) / ATTN_W * ATTN_W;
    for (; c0 < d; c0++)
      for (int rr = 0; rr < ATTN_PV_ROWS; rr++) {
        float sum = a[rr * d + c0];
        for (int64_t j = 0; j < n; j++)
          sum += p[j * at.key + rr * at.row] * v[j * vs + c0];
        a[rr * d + c0] = sum;
      }
  }
}

/* Tiles of at most this many rows (decode) compute their scores as dot
 * products over D against K rows where they lie (attn_scores_dot): a
 * transposed Q pays off only over many rows. */
#define ATTN_DOT_ROWS ATTN_PV_ROWS

/* Eight bf16 words as f32: the word is the upper half of the float. */
typedef uint16_t attn_u16x8 __attribute__((vector_size(16), aligned(2)));
typedef uint32_t attn_u32x8 __attribute__((vector_size(32)));

/* Eight elements of a K row from c on, as f32: f32 rows where they lie
 * (k32), bf16 rows widened in registers (k16, when k32 is NULL). Through a
 * pointer, not returned: a vector return value would change the baseline
 * build's ABI (GCC's -Wpsabi). */
static inline void attn_k8(attn_v8 *out, const float *k32, const uint16_t *k16, int64_t c) {
  if (k32) {
    *out = *(const attn_v8 *)(k32 + c);
    return;
  }
  const attn_u32x8 bits = __builtin_convertvector(*(const attn_u16x8 *)(k16 + c), attn_u32x8)
                          << 16;
  memcpy(out, &bits, sizeof *out);
}

/* s[r][j] = qs[r] . k[j] for j < n and rows <= ATTN_DOT_ROWS (qs and s
 * row-major, d and CPU_ATTN_KEYS apart): 8 columns at a time, each k load used by every row, the 8 lanes
 * folded at the end. K rows are f32 (k) or, when k is NULL, bf16 read where
 * they lie (k16): a decode step reads its cache once, with no widened copy. */
static void attn_scores_dot(const float *qs, const float *const *k, const uint16_t *const *k16,
                            int64_t rows, int64_t n, int64_t d, float *s) {
  const int64_t d8 = d / 8 * 8;
  for (int64_t j = 0; j < n; j++) {
    attn_v8 acc[ATTN_DOT_ROWS] = {{0}};
    const float *kj = k ? k[j] : NULL;
    const uint16_t *kh = k ? NULL : k16[j];
    for (int64_t c = 0; c < d8; c += 8) {
      attn_v8 kv;
      attn_k8(&kv, kj, kh, c);
      for (int64_t r = 0; r < rows; r++)
        ATTN_MADD8(acc[r], *(const attn_v8 *)(qs + r * d + c), kv);
    }
    for (int64_t r = 0; r < rows; r++) {
      float sum = 0.0f;
      for (int l = 0; l < 8; l++)
        sum += acc[r][l];
      for (int64_t c = d8; c < d; c++)
        sum += qs[r * d + c] * (kj ? kj[c] : kiln_bf16_widen(kh[c]));
      s[r * CPU_ATTN_KEYS + j] = sum;
    }
    /* the P.V kernel runs whole groups of ATTN_PV_ROWS rows: finite zeros
     * in the rows past the tile's */
    for (int64_t r = rows; r < ATTN_PV_ROWS; r++)
      s[r * CPU_ATTN_KEYS + j] = 0.0f;
  }
}


/* The tile's work area, laid out by cpu_attention_work_floats. */
typedef struct attn_work {
  float *q;    /* scale * q, widened: [d, CPU_ATTN_ROWS] transposed (qt), or
                  [rows, d] for the dot products of a few rows */
  float *kb;   /* [CPU_ATTN_KEYS, d]: the K block, f32, contiguous */
  float *vb;   /* [CPU_ATTN_KEYS, d]: the V block, likewise */
  float *st;   /* [CPU_ATTN_KEYS, CPU_ATTN_ROWS]: scores, then probabilities */
  float *acc;  /* [CPU_ATTN_ROWS, d]: the unnormalized output */
  float *row;  /* [max(d, CPU_ATTN_KEYS)]: one widened row of q or mask */
} attn_work;

static attn_work attn_carve(float *w, int64_t d) {
  attn_work a;
  a.q = w;
  a.kb = a.q + CPU_ATTN_ROWS * d;
  a.vb = a.kb + CPU_ATTN_KEYS * d;
  a.st = a.vb + CPU_ATTN_KEYS * d;
  a.acc = a.st + CPU_ATTN_KEYS * CPU_ATTN_ROWS;
  a.row = a.acc + CPU_ATTN_ROWS * d;
  return a;
}

static const void *attn_at(const kiln_tensor *t, kiln_dtype dtype, int64_t element) {
  return (const char *)t->data + (size_t)element * kiln_dtypes[dtype].size;
}

/* Asks for key row `row` of kv head g of K and V, a cache line at a time:
 * rows of one head lie Hkv * D elements apart, usually a page or more, where
 * the hardware prefetcher stops. */
static void attn_prefetch(const kiln_attention_op *op, int64_t row, int64_t g) {
  const size_t bytes = (size_t)op->d * kiln_dtypes[op->dtype].size;
  const char *k = attn_at(op->k, op->dtype, op->k_off + row * op->k_row + g * op->d);
  const char *v = attn_at(op->v, op->dtype, op->v_off + row * op->v_row + g * op->d);
  for (size_t b = 0; b < bytes; b += 64) {
    __builtin_prefetch(k + b);
    __builtin_prefetch(v + b);
  }
}

/* A row of n elements of the op's dtype as f32: where it lies (f32) or
 * widened into buf. */
static const float *attn_f32(kiln_dtype dtype, const void *src, float *buf, int64_t n) {
  if (dtype == KILN_F32)
    return src;
  cpu_widen(dtype, src, buf, (size_t)n);
  return buf;
}

/* dst[0..n) = src[0..n): inline, a vector at a time (a block copies 64
 * rows of a few hundred bytes, where a call to memcpy costs about as much
 * as the copy). */
static void attn_copy(const float *src, float *dst, int64_t n) {
  int64_t c = 0;
  for (; c + ATTN_W <= n; c += ATTN_W)
    *(attn_vec *)(dst + c) = *(const attn_vec *)(src + c);
  for (; c < n; c++)
    dst[c] = src[c];
}

/* The tile's running softmax state, per row. */
typedef struct attn_rows {
  float m[CPU_ATTN_ROWS];     /* the max so far */
  double l[CPU_ATTN_ROWS];    /* the sum of e^(s - m) so far */
  int64_t limit[CPU_ATTN_ROWS]; /* keys visible to the row (seqlens_k, causal) */
  int64_t min_limit;          /* the fewest any row sees */
} attn_rows;

/* The block's max score per row. A NaN score may or may not be taken for
 * the max (vector max instructions ignore one operand's NaN): either way
 * its e^(s - max) is NaN, and so is the row, as in the reference. */
static void attn_block_max(const float *st, bool few, int64_t rows, int64_t n, float *max) {
  if (few) {
    for (int64_t r = 0; r < rows; r++)
      max[r] = row_max(st + r * CPU_ATTN_KEYS, n);
    return;
  }
  /* rows: whole vectors here, each one vector register down the keys */
  for (int64_t r0 = 0; r0 < rows; r0 += ATTN_W) {
    float mx[ATTN_W];
    for (int l = 0; l < ATTN_W; l++)
      mx[l] = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
      const float *s = st + j * CPU_ATTN_ROWS + r0;
#pragma omp simd
      for (int l = 0; l < ATTN_W; l++)
        mx[l] = s[l] > mx[l] ? s[l] : mx[l];
    }
    memcpy(max + r0, mx, sizeof mx);
  }
}

/* s = e^(s - shift[r]) over the block, and each row's sum of them. */
static void attn_block_exp(float *st, bool few, int64_t rows, int64_t n, const float *shift,
                           float *sum) {
  if (few) {
    for (int64_t r = 0; r < rows; r++) {
      float *s = st + r * CPU_ATTN_KEYS;
      const float m = shift[r];
#pragma omp simd
      for (int64_t j = 0; j < n; j++)
        s[j] = attn_exp(s[j] - m);
      sum[r] = block_sum(s, (size_t)n);
    }
    return;
  }
  for (int64_t r0 = 0; r0 < rows; r0 += ATTN_W) {
#ifdef ATTN_EXP /* the build's own vector exponential (cpu_rows_avx512.c) */
    const attn_vec sh = *(const attn_vec *)(shift + r0);
    attn_vec sm = {0};
    for (int64_t j = 0; j < n; j++) {
      attn_vec *s = (attn_vec *)(st + j * CPU_ATTN_ROWS + r0);
      *s = ATTN_EXP(*s - sh);
      sm += *s;
    }
    *(attn_vec *)(sum + r0) = sm;
#else
    float sm[ATTN_W] = {0}, sh[ATTN_W];
    memcpy(sh, shift + r0, sizeof sh);
    for (int64_t j = 0; j < n; j++) {
      float *s = st + j * CPU_ATTN_ROWS + r0;
#pragma omp simd
      for (int l = 0; l < ATTN_W; l++) {
        s[l] = attn_exp(s[l] - sh[l]);
        sm[l] += s[l];
      }
    }
    memcpy(sum + r0, sm, sizeof sm);
#endif
  }
}

/* One block of scores (keys j0 .. j0 + n - 1, laid out as attn_layout_of
 * says) becomes probabilities e^(s - m_new) under the online softmax: the
 * mask added, keys past each row's limit at -inf, the block's max per row
 * merged into m, acc and l rescaled by e^(m - m_new) where the max grew.
 * The tile's rows are `rows`; transposed, the max and the exponentials run
 * on whole vectors of them, `lanes` (the rows past the tile's have scores
 * 0 and an m and l of their own, and nothing reads them). */
static void attn_softmax_block(const cpu_attention_tile *t, attn_rows *rs, attn_work *w,
                               bool few, int64_t rows, int64_t lanes, int64_t j0, int64_t n) {
  const kiln_attention_op *op = t->op;
  const int64_t d = op->d, qn = t->qn;
  const attn_layout at = attn_layout_of(few);
  float *st = w->st;
  if (op->mask)
    for (int64_t r = 0; r < rows; r++) {
      const int64_t h = t->h0 + r / qn, i = t->i0 + r % qn;
      const float *mv = attn_f32(op->dtype,
                                 attn_at(op->mask, op->dtype,
                                         t->b * op->mask_b + h * op->mask_h + i * op->mask_q + j0),
                                 w->row, n);
      for (int64_t j = 0; j < n; j++)
        st[r * at.row + j * at.key] += mv[j];
    }
  if (rs->min_limit < j0 + n)
    for (int64_t j = 0; j < n; j++)
#pragma omp simd
      for (int64_t r = 0; r < rows; r++)
        if (j0 + j >= rs->limit[r])
          st[r * at.row + j * at.key] = -INFINITY;

  float block_max[CPU_ATTN_ROWS], shift[CPU_ATTN_ROWS], corr[CPU_ATTN_ROWS], sum[CPU_ATTN_ROWS];
  attn_block_max(st, few, lanes, n, block_max);
#pragma omp simd
  for (int64_t r = 0; r < lanes; r++) {
    /* A NaN max (see attn_block_max) stays: the row is NaN. */
    const float m_new = block_max[r] > rs->m[r] || block_max[r] != block_max[r]
                            ? block_max[r]
                            : rs->m[r];
    /* Nothing visible yet (m_new -inf): every score of the block is -inf,
     * and e^(-inf - 0) = 0; acc and l are still zero. Else e^(m - m_new): 0
     * for the first visible block (m = -inf), 1 when the max has not grown. */
    shift[r] = m_new == -INFINITY ? 0.0f : m_new;
    corr[r] = attn_exp(m_new == -INFINITY ? 0.0f : rs->m[r] - m_new);
    rs->m[r] = m_new;
  }
  attn_block_exp(st, few, lanes, n, shift, sum);
  for (int64_t r = 0; r < lanes; r++) {
    rs->l[r] = rs->l[r] * corr[r] + sum[r];
    if (corr[r] != 1.0f) {
      float *acc = w->acc + r * d;
      for (int64_t c = 0; c < d; c++)
        acc[c] *= corr[r];
    }
  }
}

static void attention_tile(const cpu_attention_tile *t) {
  const kiln_attention_op *op = t->op;
  const kiln_dtype dtype = op->dtype;
  const int64_t d = op->d, nh = t->nh, qn = t->qn, rows = nh * qn;
  const int64_t lq = t->seq.lq, lk = t->seq.lk;
  attn_work w = attn_carve(t->work, d);
  attn_rows rs;
  int64_t keys = 0; /* the most any row sees */
  /* A transposed Q pays off over many rows; a few (decode) take dot
   * products against K rows where they lie. */
  const bool few = rows <= ATTN_DOT_ROWS;
  const attn_layout at = attn_layout_of(few);
  /* Rows the kernels compute: whole row vectors (scores), whole groups of
   * ATTN_PV_ROWS (P.V); the ones past the tile's hold zeros. */
  const int64_t padded = few ? ATTN_PV_ROWS : (rows + ATTN_W - 1) / ATTN_W * ATTN_W;

  /* Ask for the tile's q rows and its first key block's K and V rows up
   * front: rows of one head lie a token's whole width apart, where the
   * hardware prefetcher does not follow, and a short sequence (one block)
   * would otherwise meet every one of them as a miss in turn. */
  const size_t q_bytes = (size_t)d * kiln_dtypes[dtype].size;
  for (int64_t r = 0; r < rows; r++) {
    const char *q = attn_at(op->q, dtype,
                            op->q_off + (t->seq.q_start + t->i0 + r % qn) * op->q_row +
                                (t->h0 + r / qn) * d);
    for (size_t b = 0; b < q_bytes; b += 64)
      __builtin_prefetch(q + b);
  }
  for (int64_t j = 0; j < CPU_ATTN_KEYS && j < lk; j++)
    attn_prefetch(op, t->seq.k_start + j, t->g);

  /* Row r is head h0 + r / qn, query i0 + r % qn. */
  rs.min_limit = lk;
  if (!few)
    memset(w.q, 0, (size_t)(d * CPU_ATTN_ROWS) * sizeof(float));
  for (int64_t r = 0; r < rows; r++) {
    const int64_t h = t->h0 + r / qn, i = t->i0 + r % qn;
    const float *q = attn_f32(
        dtype, attn_at(op->q, dtype, op->q_off + (t->seq.q_start + i) * op->q_row + h * d),
        w.row, d);
    if (few)
      for (int64_t c = 0; c < d; c++)
        w.q[r * d + c] = op->scale * q[c];
    else
      for (int64_t c = 0; c < d; c++)
        w.q[c * CPU_ATTN_ROWS + r] = op->scale * q[c];
    int64_t lim = op->causal ? i + (lk - lq) + 1 : lk;
    rs.limit[r] = lim < 0 ? 0 : lim > lk ? lk : lim;
    keys = rs.limit[r] > keys ? rs.limit[r] : keys;
    rs.min_limit = rs.limit[r] < rs.min_limit ? rs.limit[r] : rs.min_limit;
  }
  memset(w.acc, 0, (size_t)(padded * d) * sizeof(float));
  for (int64_t r = 0; r < padded; r++) {
    rs.m[r] = -INFINITY;
    rs.l[r] = 0.0;
  }

  const float *krows[CPU_ATTN_KEYS];
  const uint16_t *krows16[CPU_ATTN_KEYS];
  for (int64_t j0 = 0; j0 < keys; j0 += CPU_ATTN_KEYS) {
    const int64_t n = keys - j0 < CPU_ATTN_KEYS ? keys - j0 : CPU_ATTN_KEYS;
    const int64_t krow0 = t->seq.k_start + j0;
    /* the next block's rows, each a page or more from the last (the score
     * kernel asks for them as it runs, when it runs) */
    if (few)
      for (int64_t j = 0; j < n && j0 + CPU_ATTN_KEYS + j < keys; j++)
        attn_prefetch(op, krow0 + CPU_ATTN_KEYS + j, t->g);
    /* K rows where they lie (f32; bf16 for a few rows), else widened into
     * a contiguous block. */
    const void *k0 = attn_at(op->k, dtype, op->k_off + krow0 * op->k_row + t->g * d);
    const int64_t k_bytes = op->k_row * (int64_t)kiln_dtypes[dtype].size;
    if (few) {
      for (int64_t j = 0; j < n; j++) {
        const void *ks = (const char *)k0 + j * k_bytes;
        if (dtype == KILN_F32) {
          krows[j] = ks;
        } else if (dtype == KILN_BF16) {
          krows16[j] = ks;
        } else {
          cpu_widen(dtype, ks, w.kb + j * d, (size_t)d);
          krows[j] = w.kb + j * d;
        }
      }
      attn_scores_dot(w.q, dtype == KILN_BF16 ? NULL : krows, krows16, rows, n, d, w.st);
    } else {
      const int64_t esize = (int64_t)kiln_dtypes[dtype].size, next = keys - j0 - CPU_ATTN_KEYS;
      const attn_ahead ah = {.base = next > 0 ? (const char *)k0 + CPU_ATTN_KEYS * k_bytes : NULL,
                             .stride = k_bytes,
                             .count = next < 0 ? 0 : next,
                             .bytes = d * esize};
      if (dtype == KILN_F32) {
        attn_scores(w.q, k0, op->k_row, rows, n, d, w.st, &ah);
      } else {
        for (int64_t j = 0; j < n; j++)
          cpu_widen(dtype, (const void *)((const char *)k0 + j * k_bytes), w.kb + j * d,
                    (size_t)d);
        attn_scores(w.q, w.kb, d, rows, n, d, w.st, &ah);
      }
    }
    attn_softmax_block(t, &rs, &w, few, rows, few ? rows : padded, j0, n);

    /* V: f32 rows where they lie for a few rows (decode reads its cache
     * once), else a contiguous f32 block: rows of one head a page apart
     * would crowd a few sets of the L1 cache. */
    const void *v0 = attn_at(op->v, dtype, op->v_off + krow0 * op->v_row + t->g * d);
    if (few && dtype == KILN_F32) {
      attn_accumulate(w.acc, w.st, at, v0, op->v_row, padded, n, d);
      continue;
    }
    for (int64_t j = 0; j < n; j++) {
      const void *vs = attn_at(op->v, dtype, op->v_off + (krow0 + j) * op->v_row + t->g * d);
      if (dtype == KILN_F32)
        attn_copy(vs, w.vb + j * d, d);
      else
        cpu_widen(dtype, vs, w.vb + j * d, (size_t)d);
    }
    attn_accumulate(w.acc, w.st, at, w.vb, d, padded, n, d);
  }

  for (int64_t r = 0; r < rows; r++) {
    const int64_t h = t->h0 + r / qn, i = t->i0 + r % qn;
    void *dst = (char *)op->out->data +
                (size_t)((t->seq.q_start + i) * op->hq * d + h * d) * kiln_dtypes[dtype].size;
    float *acc = w.acc + r * d;
    /* l = 0: every key masked, and the row is zeros (acc is zero too). */
    const float inv = rs.l[r] > 0.0 ? (float)(1.0 / rs.l[r]) : 0.0f;
    for (int64_t c = 0; c < d; c++)
      acc[c] *= inv;
    if (dtype == KILN_F32)
      memcpy(dst, acc, (size_t)d * sizeof(float));
    else
      cpu_narrow(dtype, acc, dst, (size_t)d);
  }
}
