import type * as tf from '@tensorflow/tfjs-core';

/**
 * The parts of @tensorflow/tfjs-backend-wasm 4.22's backend object that the kernels in this
 * folder use beyond its public type: the Emscripten heap, the id counter and the C exports.
 */
export interface WasmInternals {
  dataIdNextNumber: number;
  wasm: {
    HEAPU8: Uint8Array;
    _malloc: (bytes: number) => number;
    _free: (pointer: number) => void;
    tfjs: { registerTensor: (id: number, size: number, offset: number) => void; disposeData: (id: number) => void };
    _BatchMatMul?: (
      aId: number,
      aShapePointer: number,
      aRank: number,
      bId: number,
      bShapePointer: number,
      bRank: number,
      transposeA: number,
      transposeB: number,
      outId: number,
    ) => void;
  };
}

/** The argument tfjs passes to a kernel function. */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/** Returns the named input, or throws when the caller did not pass it. */
export function input(args: KernelArgs, name: string, kernel: string): tf.TensorInfo {
  const tensor = args.inputs[name];
  if (tensor === undefined) throw new Error(`${kernel}: missing input '${name}'`);
  return tensor;
}
