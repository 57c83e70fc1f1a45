/* The float64 attention reference; see attention_ref.h. */
#include "attention_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double ref_attention(const ref_attention_shape *s, const double *q, const double *k,
                     const double *v, double *out) {
  const int64_t d = s->d, group = s->hq / s->hkv;
  double big = 0.0;
  int64_t most_keys = 1;
  for (int64_t b = 0; b < s->batch; b++)
    most_keys = s->lk[b] > most_keys ? s->lk[b] : most_keys;
  double *logit = malloc((size_t)most_keys * sizeof *logit);
  for (int64_t b = 0; b < s->batch; b++) {
    const int64_t lq = s->lq[b], lk = s->lk[b];
    for (int64_t h = 0; h < s->hq; h++) {
      const int64_t g = h / group;
      for (int64_t i = 0; i < lq; i++) {
        double *o = out + ((s->q_start[b] + i) * s->hq + h) * d;
        memset(o, 0, (size_t)d * sizeof *o);
        int64_t visible = s->causal ? i + (lk - lq) + 1 : lk;
        visible = visible < 0 ? 0 : visible > lk ? lk : visible;
        const double *qi = q + s->q_off + (s->q_start[b] + i) * s->q_row + h * d;
        double max = -INFINITY;
        for (int64_t j = 0; j < visible; j++) {
          const double *kj = k + s->k_off + (s->k_start[b] + j) * s->k_row + g * d;
          double dot = 0.0;
          for (int64_t c = 0; c < d; c++)
            dot += qi[c] * kj[c];
          double x = s->scale * dot;
          if (s->mask)
            x += s->mask[b * s->mask_b + h * s->mask_h + i * s->mask_q + j];
          logit[j] = x;
          if (x > max)
            max = x;
          if (isfinite(x) && fabs(x) > big)
            big = fabs(x);
        }
        if (max == -INFINITY)
          continue; /* nothing visible: zeros */
        double sum = 0.0;
        for (int64_t j = 0; j < visible; j++)
          sum += logit[j] = exp(logit[j] - max);
        for (int64_t j = 0; j < visible; j++) {
          const double *vj = v + s->v_off + (s->k_start[b] + j) * s->v_row + g * d;
          const double p = logit[j] / sum;
          for (int64_t c = 0; c < d; c++)
            o[c] += p * vj[c];
        }
      }
    }
  }
  free(logit);
  return big;
}
