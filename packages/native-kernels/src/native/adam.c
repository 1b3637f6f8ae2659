/* One Adam (AdamW with weight decay) update in a single pass. */
#include <math.h>
#include "kernels.h"
#include "vector_math.h"

MCM_VECTOR_CLONES
void mcm_adam(int64_t count, const mcm_adam_settings *settings, const float *restrict w, const float *restrict g,
              const float *restrict m, const float *restrict v, float *restrict w_out, float *restrict m_out,
              float *restrict v_out) {
  const float lr = settings->learning_rate, beta1 = settings->beta1, beta2 = settings->beta2, epsilon = settings->epsilon;
  const float step = lr / settings->first_correction;
  const float inverse_second = 1.0f / settings->second_correction;
  const float decay = lr * settings->weight_decay;
  for (int64_t i = 0; i < count; i++) {
    const float gi = g[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m_out[i] = mi;
    v_out[i] = vi;
    w_out[i] = w[i] - step * mi / (sqrtf(vi * inverse_second) + epsilon) - decay * w[i];
  }
}

/* The same update written over w, m and v. Element i is read before it is written, so
 * updating in place is safe; g must not overlap w, m or v. */
MCM_VECTOR_CLONES
void mcm_adam_in_place(int64_t count, const mcm_adam_settings *settings, float *w, const float *restrict g, float *m, float *v) {
  const float lr = settings->learning_rate, beta1 = settings->beta1, beta2 = settings->beta2, epsilon = settings->epsilon;
  const float step = lr / settings->first_correction;
  const float inverse_second = 1.0f / settings->second_correction;
  const float decay = lr * settings->weight_decay;
#pragma omp simd
  for (int64_t i = 0; i < count; i++) {
    const float gi = g[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] - step * mi / (sqrtf(vi * inverse_second) + epsilon) - decay * w[i];
  }
}
