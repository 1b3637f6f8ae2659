/* The exact (erf) GELU and its gradient, one pass each. */
#include "kernels.h"
#include "vector_math.h"

#define SQRT_HALF 0.70710678118654752f
#define INVERSE_SQRT_TWO_PI 0.39894228040143268f

MCM_VECTOR_CLONES
void mcm_gelu(int64_t count, const float *restrict x, float *restrict y) {
  for (int64_t i = 0; i < count; i++) {
    const float cdf = 0.5f * (1.0f + mcm_erff(x[i] * SQRT_HALF));
    y[i] = x[i] * cdf;
  }
}

MCM_VECTOR_CLONES
void mcm_gelu_grad(int64_t count, const float *restrict x, const float *restrict dy, float *restrict dx) {
  for (int64_t i = 0; i < count; i++) {
    const float xi = x[i];
    const float cdf = 0.5f * (1.0f + mcm_erff(xi * SQRT_HALF));
    const float pdf = INVERSE_SQRT_TWO_PI * mcm_expf(-0.5f * xi * xi);
    dx[i] = dy[i] * (cdf + xi * pdf);
  }
}
