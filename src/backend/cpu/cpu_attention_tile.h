/*
 * One tile of the CPU's fused attention (cpu_attention.c runs the tiles in
 * parallel): up to CPU_ATTN_ROWS query rows, nh heads of one kv group times
 * qn consecutive queries, against the keys of their sequence in blocks of
 * CPU_ATTN_KEYS, with the online softmax (a running max m and sum l per row,
 * the output accumulator rescaled when the max grows), so nothing of size
 * Sq x Sk ever exists. All arithmetic in f32; 16-bit inputs are widened as
 * they are loaded, and each K and V block is widened once for every row of
 * the tile (the whole kv group shares it: grouped-query attention reads its
 * cache once per tile, not once per head).
 *
 * Part of cpu_rows.h (its exp_nonpositive and row_max), so it is compiled
 * once per instruction-set variant like the other row kernels.
 */

/* Rows of the tile whose visible keys end before j0 + n get -inf there:
 * per row, keys at or past its own limit (seqlens_k, causal). */
static void attn_limit(float *s, int64_t n, int64_t j0, int64_t limit) {
  for (int64_t j = limit - j0 < 0 ? 0 : limit - j0; j < n; j++)
    s[j] = -INFINITY;
}

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
#else
#define ATTN_MADD(acc, x, k) ((acc) += (x) * (k))
#define ATTN_MADD8(acc, a, b) ((acc) += (a) * (b))
#endif

/* s[r][j] = qs[r] . kt[:, j] for the tile's rows and CPU_ATTN_KEYS keys:
 * the K block is stored transposed (kt[p * CPU_ATTN_KEYS + j]), so each
 * step is a vector multiply-add over keys. Two rows at a time share every
 * load of kt, and their 2 x 4 ATTN_W sums stay in eight registers over all
 * of D. */
static void attn_scores(const float *qs, const float *kt, int64_t rows, int64_t d, float *s) {
  for (int64_t r = 0; r < rows; r += 2) {
    const bool pair = r + 1 < rows;
    const float *q0 = qs + r * d, *q1 = pair ? q0 + d : q0;
    for (int j0 = 0; j0 < CPU_ATTN_KEYS; j0 += 4 * ATTN_W) {
      attn_vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
      for (int64_t p = 0; p < d; p++) {
        const attn_vec *k = (const attn_vec *)(kt + p * CPU_ATTN_KEYS + j0);
        const float x = q0[p], y = q1[p]; /* vector * scalar: broadcast */
        const attn_vec k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3];
        ATTN_MADD(a0, x, k0), ATTN_MADD(a1, x, k1), ATTN_MADD(a2, x, k2), ATTN_MADD(a3, x, k3);
        ATTN_MADD(b0, y, k0), ATTN_MADD(b1, y, k1), ATTN_MADD(b2, y, k2), ATTN_MADD(b3, y, k3);
      }
      attn_vec *o = (attn_vec *)(s + r * CPU_ATTN_KEYS + j0);
      o[0] = a0, o[1] = a1, o[2] = a2, o[3] = a3;
      if (pair) {
        o = (attn_vec *)(s + (r + 1) * CPU_ATTN_KEYS + j0);
        o[0] = b0, o[1] = b1, o[2] = b2, o[3] = b3;
      }
    }
  }
}

/* Tiles of at most this many rows compute their scores as dot products
 * over D against K rows where they lie: no transposed copy of K. */
#define ATTN_DOT_ROWS 4

/* s[r][j] = qs[r] . k[j] for j < n and rows <= ATTN_DOT_ROWS: 8 columns at a
 * time, each k load used by every row, the 8 lanes folded at the end. K
 * rows are f32 (k) or, when k is NULL, bf16 read where they lie (k16): a
 * decode step reads its cache once, with no widened copy. */
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
  }
}

/* acc_r[0..d) += sum_j p_r[j] v[j][0..d) for j < n and the tile's rows
 * (p_r: row r of the probabilities, CPU_ATTN_KEYS apart; acc rows d apart).
 * Two rows share each load of v; 2 x 2 ATTN_W columns of acc stay in
 * registers over all n keys, then 8 at a time, then one at a time. */
static void attn_accumulate(float *acc, const float *p, const float *const *v, int64_t rows,
                            int64_t n, int64_t d) {
  for (int64_t r = 0; r < rows; r += 2) {
    const bool pair = r + 1 < rows;
    float *acc0 = acc + r * d, *acc1 = pair ? acc0 + d : acc0;
    const float *p0 = p + r * CPU_ATTN_KEYS, *p1 = pair ? p0 + CPU_ATTN_KEYS : p0;
    int64_t c0 = 0;
    for (; c0 + 2 * ATTN_W <= d; c0 += 2 * ATTN_W) {
      attn_vec *o0 = (attn_vec *)(acc0 + c0), *o1 = (attn_vec *)(acc1 + c0);
      attn_vec a0 = o0[0], a1 = o0[1], b0 = o1[0], b1 = o1[1];
      for (int64_t j = 0; j < n; j++) {
        const attn_vec *vj = (const attn_vec *)(v[j] + c0);
        const float x = p0[j], y = p1[j];
        const attn_vec v0 = vj[0], v1 = vj[1];
        ATTN_MADD(a0, x, v0), ATTN_MADD(a1, x, v1);
        ATTN_MADD(b0, y, v0), ATTN_MADD(b1, y, v1);
      }
      if (pair)
        o1[0] = b0, o1[1] = b1;
      o0[0] = a0, o0[1] = a1;
    }
    for (; c0 + 8 <= d; c0 += 8) {
      attn_v8 *o0 = (attn_v8 *)(acc0 + c0), *o1 = (attn_v8 *)(acc1 + c0);
      attn_v8 a0 = o0[0], b0 = o1[0];
      for (int64_t j = 0; j < n; j++) {
        const attn_v8 v0 = *(const attn_v8 *)(v[j] + c0);
        a0 += p0[j] * v0;
        b0 += p1[j] * v0;
      }
      if (pair)
        o1[0] = b0;
      o0[0] = a0;
    }
    for (; c0 < d; c0++) {
      float a = acc0[c0], b = acc1[c0];
      for (int64_t j = 0; j < n; j++) {
        a += p0[j] * v[j][c0];
        b += p1[j] * v[j][c0];
      }
      if (pair)
        acc1[c0] = b;
      acc0[c0] = a;
    }
  }
}

/* The tile's work area, laid out by cpu_attention_work_floats. */
typedef struct attn_work {
  float *qs;   /* [rows, d]: scale * q, widened */
  float *kt;   /* [d, CPU_ATTN_KEYS]: the K block, transposed */
  float *vb;   /* [CPU_ATTN_KEYS, d]: the V block, widened (16-bit only) */
  float *s;    /* [rows, CPU_ATTN_KEYS]: scores, then probabilities */
  float *acc;  /* [rows, d]: the unnormalized output */
  float *row;  /* [max(d, CPU_ATTN_KEYS)]: one widened row of q, k or mask */
} attn_work;

static attn_work attn_carve(float *w, int64_t d) {
  attn_work a;
  a.qs = w;
  a.kt = a.qs + CPU_ATTN_ROWS * d;
  a.vb = a.kt + d * CPU_ATTN_KEYS;
  a.s = a.vb + CPU_ATTN_KEYS * d;
  a.acc = a.s + CPU_ATTN_ROWS * CPU_ATTN_KEYS;
  a.row = a.acc + CPU_ATTN_ROWS * d;
  return a;
}

static const void *attn_at(const kiln_tensor *t, kiln_dtype dtype, int64_t element);

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

static const void *attn_at(const kiln_tensor *t, kiln_dtype dtype, int64_t element) {
  return (const char *)t->data + (size_t)element * kiln_dtypes[dtype].size;
}

static void attention_tile(const cpu_attention_tile *t) {
  const kiln_attention_op *op = t->op;
  const kiln_dtype dtype = op->dtype;
  const int64_t d = op->d, nh = t->nh, qn = t->qn, rows = nh * qn;
  const int64_t lq = t->seq.lq, lk = t->seq.lk;
  attn_work w = attn_carve(t->work, d);
  float m[CPU_ATTN_ROWS];
  double l[CPU_ATTN_ROWS];
  int64_t limit[CPU_ATTN_ROWS]; /* keys visible to each row */
  int64_t keys = 0;             /* the most any row sees */

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
  for (int64_t r = 0; r < rows; r++) {
    const int64_t h = t->h0 + r / qn, i = t->i0 + r % qn;
    const void *src = attn_at(op->q, dtype, op->q_off + (t->seq.q_start + i) * op->q_row + h * d);
    const float *q = dtype == KILN_F32 ? src : w.row;
    if (dtype != KILN_F32)
      cpu_widen(dtype, src, w.row, (size_t)d);
    for (int64_t c = 0; c < d; c++)
      w.qs[r * d + c] = op->scale * q[c];
    memset(w.acc + r * d, 0, (size_t)d * sizeof(float));
    m[r] = -INFINITY;
    l[r] = 0.0;
    int64_t lim = op->causal ? i + (lk - lq) + 1 : lk;
    limit[r] = lim < 0 ? 0 : lim > lk ? lk : lim;
    keys = limit[r] > keys ? limit[r] : keys;
  }

  const float *vrow[CPU_ATTN_KEYS], *krows[CPU_ATTN_KEYS];
  const uint16_t *krows16[CPU_ATTN_KEYS];
  /* Transposing a K block pays off only over many rows (decode has few). */
  const bool transposed = rows > ATTN_DOT_ROWS;
  for (int64_t j0 = 0; j0 < keys; j0 += CPU_ATTN_KEYS) {
    const int64_t n = keys - j0 < CPU_ATTN_KEYS ? keys - j0 : CPU_ATTN_KEYS;
    /* V rows where they lie (f32) or widened. K likewise for a few rows
     * (dot products over D); for many, transposed, with unused key columns
     * zero so their scores are finite (they are masked below). */
    for (int64_t j = 0; j < CPU_ATTN_KEYS; j++) {
      if (j >= n) {
        if (transposed)
          for (int64_t c = 0; c < d; c++)
            w.kt[c * CPU_ATTN_KEYS + j] = 0.0f;
        continue;
      }
      const int64_t krow = t->seq.k_start + j0 + j;
      const void *ks = attn_at(op->k, dtype, op->k_off + krow * op->k_row + t->g * d);
      if (j0 + CPU_ATTN_KEYS + j < keys) /* the next block's row, a page away or more */
        attn_prefetch(op, krow + CPU_ATTN_KEYS, t->g);
      if (transposed) {
        const float *kv = dtype == KILN_F32 ? ks : w.row;
        if (dtype != KILN_F32)
          cpu_widen(dtype, ks, w.row, (size_t)d);
        for (int64_t c = 0; c < d; c++)
          w.kt[c * CPU_ATTN_KEYS + j] = kv[c];
      } else if (dtype == KILN_F32) {
        krows[j] = ks;
      } else if (dtype == KILN_BF16) {
        krows16[j] = ks;
      } else {
        cpu_widen(dtype, ks, w.kt + j * d, (size_t)d);
        krows[j] = w.kt + j * d;
      }
      const void *vs = attn_at(op->v, dtype, op->v_off + krow * op->v_row + t->g * d);
      if (dtype == KILN_F32) {
        vrow[j] = vs;
      } else {
        cpu_widen(dtype, vs, w.vb + j * d, (size_t)d);
        vrow[j] = w.vb + j * d;
      }
    }
    if (transposed)
      attn_scores(w.qs, w.kt, rows, d, w.s);
    else
      attn_scores_dot(w.qs, dtype == KILN_BF16 ? NULL : krows, krows16, rows, n, d, w.s);
    for (int64_t r = 0; r < rows; r++) {
      float *s = w.s + r * CPU_ATTN_KEYS;
      if (op->mask) {
        const int64_t h = t->h0 + r / qn, i = t->i0 + r % qn;
        const void *mk = attn_at(op->mask, dtype, t->b * op->mask_b + h * op->mask_h +
                                                      i * op->mask_q + j0);
        const float *mv = dtype == KILN_F32 ? mk : w.row;
        if (dtype != KILN_F32)
          cpu_widen(dtype, mk, w.row, (size_t)n);
        for (int64_t j = 0; j < n; j++)
          s[j] += mv[j];
      }
      attn_limit(s, n, j0, limit[r]);
      const float block_max = row_max(s, n);
      /* A NaN score makes the row NaN, as in the reference. */
      const float m_new = block_max > m[r] || isnan(block_max) ? block_max : m[r];
      if (m_new == -INFINITY) { /* nothing visible yet: all of this block is 0 */
        memset(s, 0, (size_t)n * sizeof(float));
        continue;
      }
      /* e^(m - m_new): 0 for the first visible block (m = -inf), 1 when
       * the max has not grown. */
      const float corr = exp_nonpositive(m[r] - m_new);
      float *acc = w.acc + r * d;
      if (corr != 1.0f)
        for (int64_t c = 0; c < d; c++)
          acc[c] *= corr;
      m[r] = m_new;
#pragma omp simd
      for (int64_t j = 0; j < n; j++)
        s[j] = exp_nonpositive(s[j] - m_new);
      l[r] = l[r] * corr + block_sum(s, (size_t)n);
    }
    attn_accumulate(w.acc, w.s, vrow, rows, n, d);
  }

  for (int64_t r = 0; r < rows; r++) {
    const int64_t h = t->h0 + r / qn, i = t->i0 + r % qn;
    void *dst = (char *)op->out->data +
                (size_t)((t->seq.q_start + i) * op->hq * d + h * d) * kiln_dtypes[dtype].size;
    float *acc = w.acc + r * d;
    /* l = 0: every key masked, and the row is zeros (acc is zero too). */
    const float inv = l[r] > 0.0 ? (float)(1.0 / l[r]) : 0.0f;
    for (int64_t c = 0; c < d; c++)
      acc[c] *= inv;
    if (dtype == KILN_F32)
      memcpy(dst, acc, (size_t)d * sizeof(float));
    else
      cpu_narrow(dtype, acc, dst, (size_t)d);
  }
}
