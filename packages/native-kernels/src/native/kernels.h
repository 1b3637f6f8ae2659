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

#endif
