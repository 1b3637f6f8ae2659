/* Kernels of the mcm native module. Every pointer refers to float32 data in the wasm heap
 * of @tensorflow/tfjs-backend-wasm; the callers in addon.c check the bounds first. */
#ifndef MCM_NATIVE_KERNELS_H
#define MCM_NATIVE_KERNELS_H

#include <stdint.h>

/* Shape and layout of one batched product C[i] = op(A[i]) op(B[i]) (+ bias), i < batch. */
typedef struct {
  int64_t batch;
  int64_t m;
  int64_t n;
  int64_t k;
  int transpose_a;    /* A[i] is stored [k, m] instead of [m, k] */
  int transpose_b;    /* B[i] is stored [n, k] instead of [k, n] */
  int64_t stride_a;   /* elements between A[i] and A[i + 1]; 0 shares one A */
  int64_t stride_b;   /* elements between B[i] and B[i + 1]; 0 shares one B */
} mcm_gemm_shape;

/* C [batch, m, n], contiguous, is overwritten; bias [n] is added to every row unless NULL. */
void mcm_gemm(const mcm_gemm_shape *shape, const float *a, const float *b, const float *bias, float *c);

/* y = x Phi(x), the exact (erf) GELU, for `count` values. */
void mcm_gelu(int64_t count, const float *x, float *y);

/* dx = dy (Phi(x) + x phi(x)), the gradient of mcm_gelu. */
void mcm_gelu_grad(int64_t count, const float *x, const float *dy, float *dx);

/* Layer norm of x [rows, hidden] over its rows: normalized = (x - mean) * inverse_deviation,
 * y = normalized * gamma + beta, inverse_deviation [rows] = 1 / sqrt(biased variance + epsilon). */
void mcm_layer_norm(int64_t rows, int64_t hidden, float epsilon, const float *x, const float *gamma, const float *beta, float *y,
                    float *normalized, float *inverse_deviation);

/* Gradients of mcm_layer_norm from dy [rows, hidden] and the saved normalized values and
 * inverse deviations: dx [rows, hidden], dgamma [hidden], dbeta [hidden]. */
void mcm_layer_norm_grad(int64_t rows, int64_t hidden, const float *dy, const float *normalized, const float *inverse_deviation,
                         const float *gamma, float *dx, float *dgamma, float *dbeta);

/* Settings of one Adam update, as AdamUpdate's attributes. */
typedef struct {
  float learning_rate;
  float beta1;
  float beta2;
  float epsilon;
  float weight_decay;      /* decoupled, scaled by the learning rate */
  float first_correction;  /* 1 - beta1^step */
  float second_correction; /* 1 - beta2^step */
} mcm_adam_settings;

/* One Adam update of `count` weights into new buffers: m' = b1 m + (1 - b1) g,
 * v' = b2 v + (1 - b2) g^2, w' = w - lr (m' / c1) / (sqrt(v' / c2) + eps) - lr decay w. */
void mcm_adam(int64_t count, const mcm_adam_settings *settings, const float *w, const float *g, const float *m, const float *v,
              float *w_out, float *m_out, float *v_out);

/* mcm_adam written over w, m and v (each element read before it is written); g is separate. */
void mcm_adam_in_place(int64_t count, const mcm_adam_settings *settings, float *w, const float *g, float *m, float *v);

/* Layout of multi-head attention. q, k, v and the context are [batch, length, heads * head_size]
 * with head h in columns h * head_size onwards. Probabilities are [batch, heads, length, length].
 * The additive mask row of query i in sequence b starts at b * mask_batch_stride + i * mask_row_stride,
 * and a stride of 0 shares one row or one sequence's rows. */
typedef struct {
  int64_t batch;
  int64_t length;
  int64_t heads;
  int64_t head_size;
  float scale;
  int64_t mask_batch_stride;
  int64_t mask_row_stride;
} mcm_attention_shape;

/* probabilities = softmax(scale q k^T + mask) per head; context = (probabilities * keep) v, with
 * keep [batch, heads, length, length] the dropout multipliers or NULL. Returns 0 when out of memory. */
int mcm_attention_forward(const mcm_attention_shape *shape, const float *q, const float *k, const float *v, const float *mask,
                          const float *keep, float *probabilities, float *context);

/* dq, dk and dv of mcm_attention_forward from dcontext and its saved probabilities. Returns 0
 * when out of memory. */
int mcm_attention_backward(const mcm_attention_shape *shape, const float *q, const float *k, const float *v,
                           const float *probabilities, const float *keep, const float *dcontext, float *dq, float *dk, float *dv);

#endif
