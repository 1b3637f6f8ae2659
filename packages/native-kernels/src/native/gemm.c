/* Batched single-precision matrix products on OpenBLAS's cblas_sgemm. */
#include <string.h>
#include <cblas.h>
#include "kernels.h"

void mcm_gemm(const mcm_gemm_shape *s, const float *a, const float *b, const float *bias, float *c) {
  const int64_t m = s->m, n = s->n, k = s->k;
  if (s->batch == 0 || m == 0 || n == 0) return;

  /* Every slice of an untransposed, contiguous A meets the same B (a weight): the slices
   * are rows of one product, which OpenBLAS blocks and threads better than many small ones. */
  int64_t batch = s->batch, rows = m;
  if (batch > 1 && s->stride_b == 0 && !s->transpose_a && s->stride_a == m * k) {
    rows = m * batch;
    batch = 1;
  }

  const int64_t lda = s->transpose_a ? rows : k;
  const int64_t ldb = s->transpose_b ? k : n;
  const enum CBLAS_TRANSPOSE ta = s->transpose_a ? CblasTrans : CblasNoTrans;
  const enum CBLAS_TRANSPOSE tb = s->transpose_b ? CblasTrans : CblasNoTrans;

  for (int64_t i = 0; i < batch; i++) {
    float *ci = c + i * rows * n;
    float beta = 0.0f;
    if (bias != NULL) {
      for (int64_t r = 0; r < rows; r++) memcpy(ci + r * n, bias, (size_t)n * sizeof(float));
      beta = 1.0f;
    }
    if (k == 0) {
      if (bias == NULL) memset(ci, 0, (size_t)(rows * n) * sizeof(float));
      continue;
    }
    cblas_sgemm(CblasRowMajor, ta, tb, (blasint)rows, (blasint)n, (blasint)k, 1.0f, a + i * s->stride_a, (blasint)lda,
                b + i * s->stride_b, (blasint)ldb, beta, ci, (blasint)n);
  }
}
