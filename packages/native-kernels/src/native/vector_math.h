/* exp and erf in float32 for loops that the compiler vectorizes: plain arithmetic and bit
 * operations only, no calls into libm. */
#ifndef MCM_VECTOR_MATH_H
#define MCM_VECTOR_MATH_H

#include <stdint.h>
#include <string.h>

/* Compiles a loop function for AVX-512, AVX2 with FMA and the baseline, and picks one when
 * the module loads (GCC's function multi-versioning on x86-64). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define MCM_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MCM_VECTOR_CLONES
#endif

/* e^x to about 2 ulp for x in [-87.3, 88.3]; smaller x gives about 1.2e-38, larger x e^88.3.
 * Cody-Waite reduction x = n ln 2 + r and Cephes's polynomial for e^r. */
static inline float mcm_expf(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  /* Round to nearest by adding 1.5 * 2^23 (valid for |x log2 e| < 2^22). */
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/* erf(x) to within 1e-7 absolute: a rational approximation on [-4, 4] (the one Eigen and
 * XLA use for float), and +-1 outside, where erf differs from +-1 by less than 2e-8. */
static inline float mcm_erff(float x) {
  x = x < -4.0f ? -4.0f : x;
  x = x > 4.0f ? 4.0f : x;
  const float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * x2 + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  return x * p / q;
}

#endif
