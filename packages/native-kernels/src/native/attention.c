/* Scaled dot-product attention over heads laid out side by side in [batch, length, hidden]
 * rows, so that no head has to be transposed out. Head h of sequence b is the [length,
 * head_size] block at column h * head_size, with a row stride of hidden. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "kernels.h"
#include "vector_math.h"

/* Adds the mask row to `row`, then replaces it by its softmax. */
MCM_VECTOR_CLONES
static void masked_softmax_row(int64_t length, float *restrict row, const float *restrict mask) {
  float max = -INFINITY;
  for (int64_t j = 0; j < length; j++) {
    row[j] += mask[j];
    max = row[j] > max ? row[j] : max;
  }
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < length; j++) {
    row[j] = mcm_expf(row[j] - max);
    sum += row[j];
  }
  const float inverse = 1.0f / sum;
  for (int64_t j = 0; j < length; j++) row[j] *= inverse;
}

/* out = a * b elementwise. */
MCM_VECTOR_CLONES
static void multiply(int64_t count, const float *restrict a, const float *restrict b, float *restrict out) {
  for (int64_t j = 0; j < count; j++) out[j] = a[j] * b[j];
}

/* x *= by elementwise. */
MCM_VECTOR_CLONES
static void multiply_in_place(int64_t count, float *restrict x, const float *restrict by) {
  for (int64_t j = 0; j < count; j++) x[j] *= by[j];
}

/* Turns dP into scale * dS for one row: dS = P (dP - sum(dP P)). */
MCM_VECTOR_CLONES
static void softmax_grad_row(int64_t length, float scale, const float *restrict p, float *restrict dp) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (int64_t j = 0; j < length; j++) dot += dp[j] * p[j];
  for (int64_t j = 0; j < length; j++) dp[j] = scale * p[j] * (dp[j] - dot);
}

int mcm_attention_forward(const mcm_attention_shape *s, const float *q, const float *k, const float *v, const float *mask,
                          const float *keep, float *probabilities, float *context) {
  const int64_t t = s->length, hidden = s->heads * s->head_size;
  float *dropped = NULL;
  if (keep != NULL) {
    dropped = malloc((size_t)(t * t) * sizeof(float));
    if (dropped == NULL) return 0;
  }

  for (int64_t b = 0; b < s->batch; b++) {
    for (int64_t h = 0; h < s->heads; h++) {
      const int64_t block = b * t * hidden + h * s->head_size;
      const int64_t slice = (b * s->heads + h) * t * t;
      float *p = probabilities + slice;

      /* P = scale Q K^T, then each row masked and normalised. */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)t, (blasint)t, (blasint)s->head_size, s->scale, q + block,
                  (blasint)hidden, k + block, (blasint)hidden, 0.0f, p, (blasint)t);
      for (int64_t i = 0; i < t; i++) {
        masked_softmax_row(t, p + i * t, mask + b * s->mask_batch_stride + i * s->mask_row_stride);
      }

      /* context = dropout(P) V, written into the head's columns. */
      const float *weights = p;
      if (keep != NULL) {
        multiply(t * t, p, keep + slice, dropped);
        weights = dropped;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)t, (blasint)s->head_size, (blasint)t, 1.0f, weights,
                  (blasint)t, v + block, (blasint)hidden, 0.0f, context + block, (blasint)hidden);
    }
  }
  free(dropped);
  return 1;
}

int mcm_attention_backward(const mcm_attention_shape *s, const float *q, const float *k, const float *v, const float *probabilities,
                           const float *keep, const float *dcontext, float *dq, float *dk, float *dv) {
  const int64_t t = s->length, hidden = s->heads * s->head_size;
  float *dp = malloc((size_t)(t * t) * sizeof(float));
  float *dropped = keep != NULL ? malloc((size_t)(t * t) * sizeof(float)) : NULL;
  if (dp == NULL || (keep != NULL && dropped == NULL)) {
    free(dp);
    free(dropped);
    return 0;
  }

  for (int64_t b = 0; b < s->batch; b++) {
    for (int64_t h = 0; h < s->heads; h++) {
      const int64_t block = b * t * hidden + h * s->head_size;
      const int64_t slice = (b * s->heads + h) * t * t;
      const float *p = probabilities + slice;
      const float *weights = p;
      if (keep != NULL) {
        multiply(t * t, p, keep + slice, dropped);
        weights = dropped;
      }

      /* dV = dropout(P)^T dC and d dropout(P) = dC V^T. */
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)t, (blasint)s->head_size, (blasint)t, 1.0f, weights, (blasint)t,
                  dcontext + block, (blasint)hidden, 0.0f, dv + block, (blasint)hidden);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)t, (blasint)t, (blasint)s->head_size, 1.0f, dcontext + block,
                  (blasint)hidden, v + block, (blasint)hidden, 0.0f, dp, (blasint)t);
      if (keep != NULL) multiply_in_place(t * t, dp, keep + slice);

      /* dS = scale * softmax gradient; dQ = dS K and dK = dS^T Q. */
      for (int64_t i = 0; i < t; i++) softmax_grad_row(t, s->scale, p + i * t, dp + i * t);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)t, (blasint)s->head_size, (blasint)t, 1.0f, dp, (blasint)t,
                  k + block, (blasint)hidden, 0.0f, dq + block, (blasint)hidden);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)t, (blasint)s->head_size, (blasint)t, 1.0f, dp, (blasint)t,
                  q + block, (blasint)hidden, 0.0f, dk + block, (blasint)hidden);
    }
  }
  free(dp);
  free(dropped);
  return 1;
}
