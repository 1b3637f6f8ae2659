import type * as tf from '@tensorflow/tfjs-core';

/**
 * The parts of @tensorflow/tfjs-backend-wasm 4.22's backend object that the kernels in this
 * folder use beyond its public type: the Emscripten heap, the id counter and the C exports.
 */
export interface WasmInternals {
  dataIdNextNumber: number;
  /** Each tensor's backend record: its id on the C side and its byte offset in the heap. */
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } | undefined };
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

/**
 * Returns a function that runs the backend's own kernel `stock`. The engine runs a kernel's
 * setup when the backend starts; if a replacement was registered before that, the stock
 * kernel's setup never ran, so it runs here once per backend.
 */
export function stockRunner(stock: tf.KernelConfig): (args: KernelArgs) => tf.TensorInfo {
  const setUp = new WeakSet<object>();
  return (args) => {
    const backend = args.backend as object;
    if (!setUp.has(backend)) {
      stock.setupFunc?.(args.backend as tf.KernelBackend);
      setUp.add(backend);
    }
    return stock.kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  };
}

/** Returns the named input, or throws when the caller did not pass it. */
export function input(args: KernelArgs, name: string, kernel: string): tf.TensorInfo {
  const tensor = args.inputs[name];
  if (tensor === undefined) throw new Error(`${kernel}: missing input '${name}'`);
  return tensor;
}
