/* Layer norm over the last axis and its gradient, row by row. */
#include <math.h>
#include <string.h>
#include "kernels.h"
#include "vector_math.h"

MCM_VECTOR_CLONES
void mcm_layer_norm(int64_t rows, int64_t hidden, float epsilon, const float *restrict x, const float *restrict gamma,
                    const float *restrict beta, float *restrict y, float *restrict normalized, float *restrict inverse_deviation) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * hidden;
    float *yr = y + r * hidden;
    float *nr = normalized + r * hidden;

    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < hidden; j++) sum += xr[j];
    const float mean = sum / (float)hidden;

    float squares = 0.0f;
#pragma omp simd reduction(+ : squares)
    for (int64_t j = 0; j < hidden; j++) squares += (xr[j] - mean) * (xr[j] - mean);
    const float inverse = 1.0f / sqrtf(squares / (float)hidden + epsilon);
    inverse_deviation[r] = inverse;

    for (int64_t j = 0; j < hidden; j++) {
      const float value = (xr[j] - mean) * inverse;
      nr[j] = value;
      yr[j] = value * gamma[j] + beta[j];
    }
  }
}

/* dx = (g - mean(g) - x̂ mean(g x̂)) / sigma with g = dy gamma; dgamma = sum dy x̂; dbeta = sum dy. */
MCM_VECTOR_CLONES
void mcm_layer_norm_grad(int64_t rows, int64_t hidden, const float *restrict dy, const float *restrict normalized,
                         const float *restrict inverse_deviation, const float *restrict gamma, float *restrict dx,
                         float *restrict dgamma, float *restrict dbeta) {
  memset(dgamma, 0, (size_t)hidden * sizeof(float));
  memset(dbeta, 0, (size_t)hidden * sizeof(float));
  for (int64_t r = 0; r < rows; r++) {
    const float *dyr = dy + r * hidden;
    const float *nr = normalized + r * hidden;
    float *dxr = dx + r * hidden;

    float sum_g = 0.0f, sum_gn = 0.0f;
#pragma omp simd reduction(+ : sum_g, sum_gn)
    for (int64_t j = 0; j < hidden; j++) {
      const float g = dyr[j] * gamma[j];
      sum_g += g;
      sum_gn += g * nr[j];
    }
    const float mean_g = sum_g / (float)hidden;
    const float mean_gn = sum_gn / (float)hidden;
    const float inverse = inverse_deviation[r];

    for (int64_t j = 0; j < hidden; j++) {
      dxr[j] = (dyr[j] * gamma[j] - mean_g - nr[j] * mean_gn) * inverse;
      dgamma[j] += dyr[j] * nr[j];
      dbeta[j] += dyr[j];
    }
  }
}
