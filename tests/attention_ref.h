/*
 * The float64 reference of kiln_attention, written from kiln.h's definition
 * (per sequence, per query head: softmax(scale q k^T + mask) v, causal
 * aligned to the sequence's key count, fully masked rows zero), in the op
 * record's addressing: token rows through a row stride and a head-0 offset,
 * so one function covers the padded, varlen and packed layouts.
 */
#ifndef KILN_TESTS_ATTENTION_REF_H
#define KILN_TESTS_ATTENTION_REF_H

#include <stdint.h>

typedef struct ref_attention_shape {
  int64_t batch, hq, hkv, d;
  int64_t q_off, k_off, v_off, q_row, k_row, v_row; /* in elements */
  const int64_t *q_start, *lq, *k_start, *lk;       /* per sequence; lk after seqlens_k */
  int causal;
  double scale;
  const double *mask; /* NULL, or element (b, h, i, j) at b*mask_b + h*mask_h + i*mask_q + j */
  int64_t mask_b, mask_h, mask_q;
} ref_attention_shape;

/* out row (q_start[b] + i) of head h at ((q_start[b] + i) * hq + h) * d.
 * Returns the largest |scale q.k + mask| over the visible finite logits
 * (what the tolerances scale with). */
double ref_attention(const ref_attention_shape *s, const double *q, const double *k,
                     const double *v, double *out);

#endif /* KILN_TESTS_ATTENTION_REF_H */
