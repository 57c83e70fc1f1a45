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

/* s[r][0..n) = qs[r] . kt[:, j] for the tile's rows: the K block is stored
 * transposed (kt[p * CPU_ATTN_KEYS + j]), so each product is a vector
 * multiply-add over keys, with n <= CPU_ATTN_KEYS accumulators per row. */
static void attn_scores(const float *qs, const float *kt, int64_t rows, int64_t d, float *s) {
  for (int64_t r = 0; r < rows; r++) {
    float acc[CPU_ATTN_KEYS] = {0};
    const float *q = qs + r * d;
    for (int64_t p = 0; p < d; p++) {
      const float qv = q[p];
      const float *k = kt + p * CPU_ATTN_KEYS;
      for (int j = 0; j < CPU_ATTN_KEYS; j++)
        acc[j] += qv * k[j];
    }
    memcpy(s + r * CPU_ATTN_KEYS, acc, sizeof acc);
  }
}

/* acc[0..d) += sum_j p[j] v[j][0..d) for j < n. */
static void attn_accumulate(float *restrict acc, const float *restrict p,
                            const float *const *v, int64_t n, int64_t d) {
  for (int64_t j = 0; j < n; j++) {
    const float pj = p[j];
    const float *vj = v[j];
    if (pj == 0.0f)
      continue; /* masked keys (and underflowed ones) add nothing */
    for (int64_t c = 0; c < d; c++)
      acc[c] += pj * vj[c];
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

static const void *attn_at(const kiln_tensor *t, kiln_dtype dtype, int64_t element) {
  return (const char *)t->data + (size_t)element * kiln_dtype_size(dtype);
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

  const float *vrow[CPU_ATTN_KEYS];
  for (int64_t j0 = 0; j0 < keys; j0 += CPU_ATTN_KEYS) {
    const int64_t n = keys - j0 < CPU_ATTN_KEYS ? keys - j0 : CPU_ATTN_KEYS;
    /* K block, transposed; unused key columns zero, so their scores are
     * finite (they are masked below). V rows where they lie (f32) or
     * widened. */
    for (int64_t j = 0; j < CPU_ATTN_KEYS; j++) {
      if (j >= n) {
        for (int64_t c = 0; c < d; c++)
          w.kt[c * CPU_ATTN_KEYS + j] = 0.0f;
        continue;
      }
      const int64_t krow = t->seq.k_start + j0 + j;
      const void *ks = attn_at(op->k, dtype, op->k_off + krow * op->k_row + t->g * d);
      const float *kv = dtype == KILN_F32 ? ks : w.row;
      if (dtype != KILN_F32)
        cpu_widen(dtype, ks, w.row, (size_t)d);
      for (int64_t c = 0; c < d; c++)
        w.kt[c * CPU_ATTN_KEYS + j] = kv[c];
      const void *vs = attn_at(op->v, dtype, op->v_off + krow * op->v_row + t->g * d);
      if (dtype == KILN_F32) {
        vrow[j] = vs;
      } else {
        cpu_widen(dtype, vs, w.vb + j * d, (size_t)d);
        vrow[j] = w.vb + j * d;
      }
    }
    attn_scores(w.qs, w.kt, rows, d, w.s);
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
      if (m_new == -INFINITY)
        continue; /* nothing visible yet: all of this block is 0 */
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
      attn_accumulate(acc, s, vrow, n, d);
    }
  }

  for (int64_t r = 0; r < rows; r++) {
    const int64_t h = t->h0 + r / qn, i = t->i0 + r % qn;
    void *dst = (char *)op->out->data +
                (size_t)((t->seq.q_start + i) * op->hq * d + h * d) * kiln_dtype_size(dtype);
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
