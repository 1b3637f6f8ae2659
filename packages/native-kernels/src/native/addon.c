/* N-API entry points of the mcm native module: argument checks, then the kernels.
 * Tensors are passed as byte offsets into the wasm heap's ArrayBuffer, so the kernels read
 * and write the tensors of @tensorflow/tfjs-backend-wasm in place. */
#include <stdio.h>
#include <stdint.h>
#include <node_api.h>
#include "kernels.h"

/* OpenBLAS extensions; declared here because distributions ship cblas.h with and without them. */
extern void openblas_set_num_threads(int threads);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);

#define GEMM_ARGS 13
#define MAX_DIMENSION INT32_MAX

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

/* Reads `value` as an integer; on failure throws a TypeError naming `name` and returns 0. */
static int read_integer(napi_env env, napi_value value, const char *name, int64_t *out) {
  double number;
  if (napi_get_value_double(env, value, &number) != napi_ok || number != (double)(int64_t)number) {
    char message[160];
    snprintf(message, sizeof message, "gemm: %s must be an integer", name);
    napi_throw_type_error(env, NULL, message);
    return 0;
  }
  *out = (int64_t)number;
  return 1;
}

/* Checks that `count` floats from byte `offset` lie inside the heap and are 4-byte aligned. */
static int check_range(napi_env env, const char *name, int64_t offset, int64_t count, size_t heap_bytes) {
  char message[200];
  if (offset < 0 || offset % 4 != 0) {
    snprintf(message, sizeof message, "gemm: %s offset %lld must be a non-negative multiple of 4", name, (long long)offset);
    napi_throw_range_error(env, NULL, message);
    return 0;
  }
  if (count > 0 && (uint64_t)offset + (uint64_t)count * 4 > heap_bytes) {
    snprintf(message, sizeof message, "gemm: %s [%lld bytes at %lld] ends past the heap (%zu bytes)", name,
             (long long)(count * 4), (long long)offset, heap_bytes);
    napi_throw_range_error(env, NULL, message);
    return 0;
  }
  return 1;
}

static int overlaps(int64_t start_a, int64_t count_a, int64_t start_b, int64_t count_b) {
  return count_a > 0 && count_b > 0 && start_a < start_b + count_b * 4 && start_b < start_a + count_a * 4;
}

/* gemm(heap, batch, m, n, k, transposeA, transposeB, aOffset, strideA, bOffset, strideB, cOffset, biasOffset)
 * C[i] = op(A[i]) op(B[i]) + bias for i < batch; offsets in bytes, strides in elements,
 * biasOffset -1 for no bias. */
static napi_value gemm(napi_env env, napi_callback_info info) {
  size_t argc = GEMM_ARGS;
  napi_value argv[GEMM_ARGS];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != GEMM_ARGS) {
    return throw_error(env, "gemm: expected 13 arguments (heap, batch, m, n, k, transposeA, transposeB, aOffset, strideA, "
                            "bOffset, strideB, cOffset, biasOffset)");
  }

  void *heap = NULL;
  size_t heap_bytes = 0;
  bool is_buffer = false;
  napi_is_arraybuffer(env, argv[0], &is_buffer);
  if (!is_buffer || napi_get_arraybuffer_info(env, argv[0], &heap, &heap_bytes) != napi_ok) {
    return throw_error(env, "gemm: heap must be an ArrayBuffer (the wasm memory's buffer)");
  }

  static const char *names[GEMM_ARGS] = {"heap",    "batch",   "m",       "n",      "k",      "transposeA", "transposeB",
                                         "aOffset", "strideA", "bOffset", "strideB", "cOffset", "biasOffset"};
  int64_t v[GEMM_ARGS] = {0};
  for (int i = 1; i < GEMM_ARGS; i++) {
    if (!read_integer(env, argv[i], names[i], &v[i])) return NULL;
  }
  mcm_gemm_shape shape = {
      .batch = v[1], .m = v[2], .n = v[3], .k = v[4], .transpose_a = v[5] != 0, .transpose_b = v[6] != 0,
      .stride_a = v[8], .stride_b = v[10]};
  const int64_t a_offset = v[7], b_offset = v[9], c_offset = v[11], bias_offset = v[12];

  char message[200];
  for (int i = 1; i <= 4; i++) {
    if (v[i] < 0 || v[i] > MAX_DIMENSION) {
      snprintf(message, sizeof message, "gemm: %s is %lld, expected 0 to %d", names[i], (long long)v[i], MAX_DIMENSION);
      napi_throw_range_error(env, NULL, message);
      return NULL;
    }
  }
  if (shape.stride_a < 0 || shape.stride_b < 0) {
    snprintf(message, sizeof message, "gemm: strides must be >= 0, got strideA %lld and strideB %lld",
             (long long)shape.stride_a, (long long)shape.stride_b);
    napi_throw_range_error(env, NULL, message);
    return NULL;
  }

  const int64_t last = shape.batch > 0 ? shape.batch - 1 : 0;
  const int64_t count_a = shape.batch == 0 ? 0 : last * shape.stride_a + shape.m * shape.k;
  const int64_t count_b = shape.batch == 0 ? 0 : last * shape.stride_b + shape.k * shape.n;
  const int64_t count_c = shape.batch * shape.m * shape.n;
  const int64_t count_bias = bias_offset < 0 ? 0 : shape.n;
  if (!check_range(env, "a", a_offset, count_a, heap_bytes) || !check_range(env, "b", b_offset, count_b, heap_bytes) ||
      !check_range(env, "c", c_offset, count_c, heap_bytes) ||
      (bias_offset >= 0 && !check_range(env, "bias", bias_offset, count_bias, heap_bytes))) {
    return NULL;
  }
  if (overlaps(c_offset, count_c, a_offset, count_a) || overlaps(c_offset, count_c, b_offset, count_b) ||
      overlaps(c_offset, count_c, bias_offset, count_bias)) {
    return throw_error(env, "gemm: the output c overlaps an input; allocate a separate output");
  }

  char *base = (char *)heap;
  mcm_gemm(&shape, (const float *)(base + a_offset), (const float *)(base + b_offset),
           bias_offset < 0 ? NULL : (const float *)(base + bias_offset), (float *)(base + c_offset));
  return NULL;
}

/* setThreads(count): the number of OpenBLAS threads for later products. */
static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t threads = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_int32(env, argv[0], &threads) != napi_ok || threads < 1) {
    return throw_error(env, "setThreads: expected one integer >= 1");
  }
  openblas_set_num_threads(threads);
  return NULL;
}

static napi_value get_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_create_int32(env, openblas_get_num_threads(), &result);
  return result;
}

/* blasInfo(): OpenBLAS's build configuration and the core type it selected at run time. */
static napi_value blas_info(napi_env env, napi_callback_info info) {
  (void)info;
  char text[512];
  snprintf(text, sizeof text, "%s; core %s", openblas_get_config(), openblas_get_corename());
  napi_value result;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"gemm", NULL, gemm, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"getThreads", NULL, get_threads, NULL, NULL, NULL, napi_default, NULL},
      {"blasInfo", NULL, blas_info, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
