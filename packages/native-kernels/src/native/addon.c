/* N-API entry points of the mcm native module: argument checks, then the kernels.
 * Tensors are passed as byte offsets into the wasm heap's ArrayBuffer, so the kernels read
 * and write the tensors of @tensorflow/tfjs-backend-wasm in place. */
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <node_api.h>
#include "kernels.h"

/* OpenBLAS extensions; declared here because distributions ship cblas.h with and without them. */
extern void openblas_set_num_threads(int threads);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);

#define MAX_ARGS 24
#define MAX_DIMENSION INT32_MAX

/* One call's arguments: the heap first, then numbers read by name. */
typedef struct {
  napi_env env;
  const char *function;
  napi_value argv[MAX_ARGS];
  char *heap;
  size_t heap_bytes;
} call_args;

static bool fail(call_args *call, const char *kind, const char *detail) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", call->function, detail);
  if (kind[0] == 'T') {
    napi_throw_type_error(call->env, NULL, message);
  } else if (kind[0] == 'R') {
    napi_throw_range_error(call->env, NULL, message);
  } else {
    napi_throw_error(call->env, NULL, message);
  }
  return false;
}

/* Reads `expected` arguments, the first of them the heap's ArrayBuffer. `usage` lists them. */
static bool begin(call_args *call, napi_env env, napi_callback_info info, const char *function, size_t expected, const char *usage) {
  call->env = env;
  call->function = function;
  if (expected > MAX_ARGS) return fail(call, "Error", "expects more arguments than MAX_ARGS; raise MAX_ARGS");
  size_t argc = MAX_ARGS;
  if (napi_get_cb_info(env, info, &argc, call->argv, NULL, NULL) != napi_ok || argc != expected) {
    char detail[200];
    snprintf(detail, sizeof detail, "expected %zu arguments (%s), got %zu", expected, usage, argc);
    return fail(call, "Error", detail);
  }
  bool is_buffer = false;
  void *data = NULL;
  napi_is_arraybuffer(env, call->argv[0], &is_buffer);
  if (!is_buffer || napi_get_arraybuffer_info(env, call->argv[0], &data, &call->heap_bytes) != napi_ok) {
    return fail(call, "TypeError", "heap must be an ArrayBuffer (the wasm memory's buffer)");
  }
  call->heap = (char *)data;
  return true;
}

static bool integer_arg(call_args *call, size_t index, const char *name, int64_t *out) {
  double number;
  if (napi_get_value_double(call->env, call->argv[index], &number) != napi_ok || number != (double)(int64_t)number) {
    char detail[120];
    snprintf(detail, sizeof detail, "%s must be an integer", name);
    return fail(call, "TypeError", detail);
  }
  *out = (int64_t)number;
  return true;
}

/* Reads a size: an integer in [0, 2^31 - 1], the range BLAS's 32-bit integers take. */
static bool size_arg(call_args *call, size_t index, const char *name, int64_t *out) {
  if (!integer_arg(call, index, name, out)) return false;
  if (*out < 0 || *out > MAX_DIMENSION) {
    char detail[120];
    snprintf(detail, sizeof detail, "%s is %lld, expected 0 to %d", name, (long long)*out, MAX_DIMENSION);
    return fail(call, "RangeError", detail);
  }
  return true;
}

static bool number_arg(call_args *call, size_t index, const char *name, float *out) {
  double number;
  if (napi_get_value_double(call->env, call->argv[index], &number) != napi_ok) {
    char detail[120];
    snprintf(detail, sizeof detail, "%s must be a number", name);
    return fail(call, "TypeError", detail);
  }
  *out = (float)number;
  return true;
}

/* A float32 range of the heap named by a byte offset argument. */
typedef struct {
  const char *name;
  int64_t offset;
  int64_t count;
  float *data;
} heap_range;

/* Reads the byte offset at `index` and checks that `count` floats from it lie in the heap. */
static bool range_arg(call_args *call, size_t index, const char *name, int64_t count, heap_range *out) {
  out->name = name;
  out->count = count;
  if (!integer_arg(call, index, name, &out->offset)) return false;
  char detail[200];
  if (out->offset < 0 || out->offset % 4 != 0) {
    snprintf(detail, sizeof detail, "%s offset %lld must be a non-negative multiple of 4", name, (long long)out->offset);
    return fail(call, "RangeError", detail);
  }
  if (count > 0 && (uint64_t)out->offset + (uint64_t)count * 4 > call->heap_bytes) {
    snprintf(detail, sizeof detail, "%s [%lld bytes at %lld] ends past the heap (%zu bytes)", name, (long long)(count * 4),
             (long long)out->offset, call->heap_bytes);
    return fail(call, "RangeError", detail);
  }
  out->data = (float *)(call->heap + out->offset);
  return true;
}

/* Checks that no output range overlaps another output or an input, which the kernels assume. */
static bool disjoint(call_args *call, const heap_range *outputs, size_t output_count, const heap_range *inputs, size_t input_count) {
  for (size_t i = 0; i < output_count; i++) {
    const heap_range *out = &outputs[i];
    for (size_t j = 0; j < output_count + input_count; j++) {
      const heap_range *other = j < output_count ? &outputs[j] : &inputs[j - output_count];
      if (other == out || out->count == 0 || other->count == 0) continue;
      if (out->offset < other->offset + other->count * 4 && other->offset < out->offset + out->count * 4) {
        char detail[160];
        snprintf(detail, sizeof detail, "output %s overlaps %s; allocate separate outputs", out->name, other->name);
        return fail(call, "Error", detail);
      }
    }
  }
  return true;
}

/* gemm(heap, batch, m, n, k, transposeA, transposeB, aOffset, strideA, bOffset, strideB, cOffset, biasOffset) */
static napi_value gemm(napi_env env, napi_callback_info info) {
  call_args call;
  if (!begin(&call, env, info, "gemm", 13,
             "heap, batch, m, n, k, transposeA, transposeB, aOffset, strideA, bOffset, strideB, cOffset, biasOffset")) {
    return NULL;
  }
  mcm_gemm_shape shape;
  int64_t transpose_a, transpose_b, bias_offset;
  if (!size_arg(&call, 1, "batch", &shape.batch) || !size_arg(&call, 2, "m", &shape.m) || !size_arg(&call, 3, "n", &shape.n) ||
      !size_arg(&call, 4, "k", &shape.k) || !integer_arg(&call, 5, "transposeA", &transpose_a) ||
      !integer_arg(&call, 6, "transposeB", &transpose_b) || !size_arg(&call, 8, "strideA", &shape.stride_a) ||
      !size_arg(&call, 10, "strideB", &shape.stride_b) || !integer_arg(&call, 12, "biasOffset", &bias_offset)) {
    return NULL;
  }
  shape.transpose_a = transpose_a != 0;
  shape.transpose_b = transpose_b != 0;

  const int64_t last = shape.batch > 0 ? shape.batch - 1 : 0;
  const int64_t count_a = shape.batch == 0 ? 0 : last * shape.stride_a + shape.m * shape.k;
  const int64_t count_b = shape.batch == 0 ? 0 : last * shape.stride_b + shape.k * shape.n;
  heap_range inputs[3] = {{0}}, output;
  if (!range_arg(&call, 7, "a", count_a, &inputs[0]) || !range_arg(&call, 9, "b", count_b, &inputs[1]) ||
      !range_arg(&call, 11, "c", shape.batch * shape.m * shape.n, &output) ||
      (bias_offset >= 0 && !range_arg(&call, 12, "bias", shape.n, &inputs[2])) || !disjoint(&call, &output, 1, inputs, 3)) {
    return NULL;
  }
  mcm_gemm(&shape, inputs[0].data, inputs[1].data, bias_offset >= 0 ? inputs[2].data : NULL, output.data);
  return NULL;
}

/* gelu(heap, count, xOffset, yOffset) */
static napi_value gelu(napi_env env, napi_callback_info info) {
  call_args call;
  int64_t count;
  heap_range x, y;
  if (!begin(&call, env, info, "gelu", 4, "heap, count, xOffset, yOffset") || !size_arg(&call, 1, "count", &count) ||
      !range_arg(&call, 2, "x", count, &x) || !range_arg(&call, 3, "y", count, &y) || !disjoint(&call, &y, 1, &x, 1)) {
    return NULL;
  }
  mcm_gelu(count, x.data, y.data);
  return NULL;
}

/* geluGrad(heap, count, xOffset, dyOffset, dxOffset) */
static napi_value gelu_grad(napi_env env, napi_callback_info info) {
  call_args call;
  int64_t count;
  heap_range inputs[2], dx;
  if (!begin(&call, env, info, "geluGrad", 5, "heap, count, xOffset, dyOffset, dxOffset") || !size_arg(&call, 1, "count", &count) ||
      !range_arg(&call, 2, "x", count, &inputs[0]) || !range_arg(&call, 3, "dy", count, &inputs[1]) ||
      !range_arg(&call, 4, "dx", count, &dx) || !disjoint(&call, &dx, 1, inputs, 2)) {
    return NULL;
  }
  mcm_gelu_grad(count, inputs[0].data, inputs[1].data, dx.data);
  return NULL;
}

/* layerNorm(heap, rows, hidden, epsilon, xOffset, gammaOffset, betaOffset, yOffset, normalizedOffset, inverseDeviationOffset) */
static napi_value layer_norm(napi_env env, napi_callback_info info) {
  call_args call;
  int64_t rows, hidden;
  float epsilon;
  heap_range inputs[3], outputs[3];
  if (!begin(&call, env, info, "layerNorm", 10,
             "heap, rows, hidden, epsilon, xOffset, gammaOffset, betaOffset, yOffset, normalizedOffset, inverseDeviationOffset") ||
      !size_arg(&call, 1, "rows", &rows) || !size_arg(&call, 2, "hidden", &hidden) || !number_arg(&call, 3, "epsilon", &epsilon)) {
    return NULL;
  }
  if (!(epsilon > 0.0f)) return fail(&call, "RangeError", "epsilon must be positive"), NULL;
  if (!range_arg(&call, 4, "x", rows * hidden, &inputs[0]) || !range_arg(&call, 5, "gamma", hidden, &inputs[1]) ||
      !range_arg(&call, 6, "beta", hidden, &inputs[2]) || !range_arg(&call, 7, "y", rows * hidden, &outputs[0]) ||
      !range_arg(&call, 8, "normalized", rows * hidden, &outputs[1]) ||
      !range_arg(&call, 9, "inverseDeviation", rows, &outputs[2]) || !disjoint(&call, outputs, 3, inputs, 3)) {
    return NULL;
  }
  mcm_layer_norm(rows, hidden, epsilon, inputs[0].data, inputs[1].data, inputs[2].data, outputs[0].data, outputs[1].data,
                 outputs[2].data);
  return NULL;
}

/* layerNormGrad(heap, rows, hidden, dyOffset, normalizedOffset, inverseDeviationOffset, gammaOffset, dxOffset, dGammaOffset, dBetaOffset) */
static napi_value layer_norm_grad(napi_env env, napi_callback_info info) {
  call_args call;
  int64_t rows, hidden;
  heap_range inputs[4], outputs[3];
  if (!begin(&call, env, info, "layerNormGrad", 10,
             "heap, rows, hidden, dyOffset, normalizedOffset, inverseDeviationOffset, gammaOffset, dxOffset, dGammaOffset, "
             "dBetaOffset") ||
      !size_arg(&call, 1, "rows", &rows) || !size_arg(&call, 2, "hidden", &hidden) ||
      !range_arg(&call, 3, "dy", rows * hidden, &inputs[0]) || !range_arg(&call, 4, "normalized", rows * hidden, &inputs[1]) ||
      !range_arg(&call, 5, "inverseDeviation", rows, &inputs[2]) || !range_arg(&call, 6, "gamma", hidden, &inputs[3]) ||
      !range_arg(&call, 7, "dx", rows * hidden, &outputs[0]) || !range_arg(&call, 8, "dGamma", hidden, &outputs[1]) ||
      !range_arg(&call, 9, "dBeta", hidden, &outputs[2]) || !disjoint(&call, outputs, 3, inputs, 4)) {
    return NULL;
  }
  mcm_layer_norm_grad(rows, hidden, inputs[0].data, inputs[1].data, inputs[2].data, inputs[3].data, outputs[0].data, outputs[1].data,
                      outputs[2].data);
  return NULL;
}

/* adam(heap, count, wOffset, gOffset, mOffset, vOffset, wOutOffset, mOutOffset, vOutOffset, learningRate, beta1, beta2,
 *      epsilon, weightDecay, firstCorrection, secondCorrection) */
static napi_value adam(napi_env env, napi_callback_info info) {
  call_args call;
  int64_t count;
  heap_range inputs[4], outputs[3];
  mcm_adam_settings s;
  if (!begin(&call, env, info, "adam", 16,
             "heap, count, wOffset, gOffset, mOffset, vOffset, wOutOffset, mOutOffset, vOutOffset, learningRate, beta1, beta2, "
             "epsilon, weightDecay, firstCorrection, secondCorrection") ||
      !size_arg(&call, 1, "count", &count) || !range_arg(&call, 2, "w", count, &inputs[0]) ||
      !range_arg(&call, 3, "g", count, &inputs[1]) || !range_arg(&call, 4, "m", count, &inputs[2]) ||
      !range_arg(&call, 5, "v", count, &inputs[3]) || !range_arg(&call, 6, "wOut", count, &outputs[0]) ||
      !range_arg(&call, 7, "mOut", count, &outputs[1]) || !range_arg(&call, 8, "vOut", count, &outputs[2]) ||
      !disjoint(&call, outputs, 3, inputs, 4) || !number_arg(&call, 9, "learningRate", &s.learning_rate) ||
      !number_arg(&call, 10, "beta1", &s.beta1) || !number_arg(&call, 11, "beta2", &s.beta2) ||
      !number_arg(&call, 12, "epsilon", &s.epsilon) || !number_arg(&call, 13, "weightDecay", &s.weight_decay) ||
      !number_arg(&call, 14, "firstCorrection", &s.first_correction) ||
      !number_arg(&call, 15, "secondCorrection", &s.second_correction)) {
    return NULL;
  }
  mcm_adam(count, &s, inputs[0].data, inputs[1].data, inputs[2].data, inputs[3].data, outputs[0].data, outputs[1].data,
           outputs[2].data);
  return NULL;
}

/* adamInPlace(heap, count, wOffset, gOffset, mOffset, vOffset, learningRate, beta1, beta2, epsilon, weightDecay,
 *             firstCorrection, secondCorrection): adam written over w, m and v. */
static napi_value adam_in_place(napi_env env, napi_callback_info info) {
  call_args call;
  int64_t count;
  heap_range g, states[3];
  mcm_adam_settings s;
  if (!begin(&call, env, info, "adamInPlace", 13,
             "heap, count, wOffset, gOffset, mOffset, vOffset, learningRate, beta1, beta2, epsilon, weightDecay, "
             "firstCorrection, secondCorrection") ||
      !size_arg(&call, 1, "count", &count) || !range_arg(&call, 2, "w", count, &states[0]) || !range_arg(&call, 3, "g", count, &g) ||
      !range_arg(&call, 4, "m", count, &states[1]) || !range_arg(&call, 5, "v", count, &states[2]) ||
      !disjoint(&call, states, 3, &g, 1) || !number_arg(&call, 6, "learningRate", &s.learning_rate) ||
      !number_arg(&call, 7, "beta1", &s.beta1) || !number_arg(&call, 8, "beta2", &s.beta2) ||
      !number_arg(&call, 9, "epsilon", &s.epsilon) || !number_arg(&call, 10, "weightDecay", &s.weight_decay) ||
      !number_arg(&call, 11, "firstCorrection", &s.first_correction) ||
      !number_arg(&call, 12, "secondCorrection", &s.second_correction)) {
    return NULL;
  }
  mcm_adam_in_place(count, &s, states[0].data, g.data, states[1].data, states[2].data);
  return NULL;
}

/* Reads the attention layout from arguments 1 to 7: batch, length, heads, headSize, scale,
 * maskBatchStride, maskRowStride (the strides are 0 for the backward pass). */
static bool attention_shape_args(call_args *call, mcm_attention_shape *s) {
  if (!size_arg(call, 1, "batch", &s->batch) || !size_arg(call, 2, "length", &s->length) || !size_arg(call, 3, "heads", &s->heads) ||
      !size_arg(call, 4, "headSize", &s->head_size) || !number_arg(call, 5, "scale", &s->scale) ||
      !size_arg(call, 6, "maskBatchStride", &s->mask_batch_stride) || !size_arg(call, 7, "maskRowStride", &s->mask_row_stride)) {
    return false;
  }
  if (s->heads * s->head_size > MAX_DIMENSION) return fail(call, "RangeError", "heads * headSize exceeds 2^31 - 1");
  return true;
}

/* attentionForward(heap, batch, length, heads, headSize, scale, maskBatchStride, maskRowStride, qOffset, kOffset,
 *                  vOffset, maskOffset, keepOffset, probabilitiesOffset, contextOffset); keepOffset -1 for no dropout. */
static napi_value attention_forward(napi_env env, napi_callback_info info) {
  call_args call;
  mcm_attention_shape s;
  int64_t keep_offset;
  if (!begin(&call, env, info, "attentionForward", 15,
             "heap, batch, length, heads, headSize, scale, maskBatchStride, maskRowStride, qOffset, kOffset, vOffset, maskOffset, "
             "keepOffset, probabilitiesOffset, contextOffset") ||
      !attention_shape_args(&call, &s) || !integer_arg(&call, 12, "keepOffset", &keep_offset)) {
    return NULL;
  }
  const int64_t rows = s.batch * s.length * s.heads * s.head_size;
  const int64_t scores = s.batch * s.heads * s.length * s.length;
  const int64_t mask_count = s.batch == 0 || s.length == 0 ? 0 : (s.batch - 1) * s.mask_batch_stride + (s.length - 1) * s.mask_row_stride + s.length;
  heap_range inputs[5] = {{0}}, outputs[2];
  if (!range_arg(&call, 8, "q", rows, &inputs[0]) || !range_arg(&call, 9, "k", rows, &inputs[1]) ||
      !range_arg(&call, 10, "v", rows, &inputs[2]) || !range_arg(&call, 11, "mask", mask_count, &inputs[3]) ||
      (keep_offset >= 0 && !range_arg(&call, 12, "keep", scores, &inputs[4])) ||
      !range_arg(&call, 13, "probabilities", scores, &outputs[0]) || !range_arg(&call, 14, "context", rows, &outputs[1]) ||
      !disjoint(&call, outputs, 2, inputs, 5)) {
    return NULL;
  }
  if (!mcm_attention_forward(&s, inputs[0].data, inputs[1].data, inputs[2].data, inputs[3].data, keep_offset >= 0 ? inputs[4].data : NULL,
                             outputs[0].data, outputs[1].data)) {
    return fail(&call, "Error", "out of memory for a [length, length] scratch buffer"), NULL;
  }
  return NULL;
}

/* attentionBackward(heap, batch, length, heads, headSize, scale, 0, 0, qOffset, kOffset, vOffset, probabilitiesOffset,
 *                   keepOffset, dContextOffset, dqOffset, dkOffset, dvOffset) */
static napi_value attention_backward(napi_env env, napi_callback_info info) {
  call_args call;
  mcm_attention_shape s;
  int64_t keep_offset;
  if (!begin(&call, env, info, "attentionBackward", 17,
             "heap, batch, length, heads, headSize, scale, 0, 0, qOffset, kOffset, vOffset, probabilitiesOffset, keepOffset, "
             "dContextOffset, dqOffset, dkOffset, dvOffset") ||
      !attention_shape_args(&call, &s) || !integer_arg(&call, 12, "keepOffset", &keep_offset)) {
    return NULL;
  }
  const int64_t rows = s.batch * s.length * s.heads * s.head_size;
  const int64_t scores = s.batch * s.heads * s.length * s.length;
  heap_range inputs[6] = {{0}}, outputs[3];
  if (!range_arg(&call, 8, "q", rows, &inputs[0]) || !range_arg(&call, 9, "k", rows, &inputs[1]) ||
      !range_arg(&call, 10, "v", rows, &inputs[2]) || !range_arg(&call, 11, "probabilities", scores, &inputs[3]) ||
      (keep_offset >= 0 && !range_arg(&call, 12, "keep", scores, &inputs[4])) ||
      !range_arg(&call, 13, "dContext", rows, &inputs[5]) || !range_arg(&call, 14, "dq", rows, &outputs[0]) ||
      !range_arg(&call, 15, "dk", rows, &outputs[1]) || !range_arg(&call, 16, "dv", rows, &outputs[2]) ||
      !disjoint(&call, outputs, 3, inputs, 6)) {
    return NULL;
  }
  if (!mcm_attention_backward(&s, inputs[0].data, inputs[1].data, inputs[2].data, inputs[3].data, keep_offset >= 0 ? inputs[4].data : NULL,
                              inputs[5].data, outputs[0].data, outputs[1].data, outputs[2].data)) {
    return fail(&call, "Error", "out of memory for [length, length] scratch buffers"), NULL;
  }
  return NULL;
}

/* setThreads(count): the number of OpenBLAS threads for later products. */
static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t threads = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_int32(env, argv[0], &threads) != napi_ok || threads < 1) {
    napi_throw_error(env, NULL, "setThreads: expected one integer >= 1");
    return NULL;
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
      {"gelu", NULL, gelu, NULL, NULL, NULL, napi_default, NULL},
      {"geluGrad", NULL, gelu_grad, NULL, NULL, NULL, napi_default, NULL},
      {"layerNorm", NULL, layer_norm, NULL, NULL, NULL, napi_default, NULL},
      {"layerNormGrad", NULL, layer_norm_grad, NULL, NULL, NULL, napi_default, NULL},
      {"adam", NULL, adam, NULL, NULL, NULL, napi_default, NULL},
      {"adamInPlace", NULL, adam_in_place, NULL, NULL, NULL, napi_default, NULL},
      {"attentionForward", NULL, attention_forward, NULL, NULL, NULL, napi_default, NULL},
      {"attentionBackward", NULL, attention_backward, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"getThreads", NULL, get_threads, NULL, NULL, NULL, napi_default, NULL},
      {"blasInfo", NULL, blas_info, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
