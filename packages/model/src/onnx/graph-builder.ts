import { endianness } from 'node:os';
import {
  ATTRIBUTE_TYPE,
  TENSOR_TYPE,
  type AttributeProto,
  type Dimension,
  type GraphProto,
  type NodeProto,
  type TensorElementType,
  type TensorProto,
  type ValueInfoProto,
} from './onnx-proto.ts';

/** A node attribute value: a float, an integer, or a list of integers (axes, perm, shape). */
export type AttributeValue = { float: number } | { int: number } | { ints: number[] };

/** A graph input or output dimension: a fixed size, or a name for a dynamic one. */
export type DimensionSpec = number | string;

/**
 * Collects the nodes, initializers, inputs and outputs of one ONNX graph. Every node
 * output gets a unique name under the current scope ("block0/attention/MatMul_3"), so
 * the graph reads like the model's variable names in a viewer such as Netron.
 */
export class OnnxGraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  /** Every value name in the graph: inputs, initializers and node outputs. */
  private readonly names = new Set<string>();
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly scopes: string[] = [];
  private readonly used = new Map<string, number>();

  constructor() {
    // raw_data is little-endian by the ONNX spec, and initializers copy typed arrays byte for byte.
    if (endianness() !== 'LE') throw new Error('the ONNX exporter needs a little-endian machine: raw_data copies Float32Array bytes as they are');
  }

  /** Runs `build` with names prefixed by `scope/`. */
  scoped<T>(scope: string, build: () => T): T {
    this.scopes.push(scope);
    try {
      return build();
    } finally {
      this.scopes.pop();
    }
  }

  /** Declares a graph input and returns its name. */
  input(name: string, type: TensorElementType, shape: DimensionSpec[], docString?: string): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, type, shape, docString));
    return name;
  }

  /** Declares `value` as a graph output named `name`, through an Identity node. */
  output(name: string, value: string, type: TensorElementType, shape: DimensionSpec[], docString?: string): void {
    this.claim(name);
    this.nodes.push({ name: `output/${name}`, opType: 'Identity', input: [value], output: [name], attribute: [] });
    this.outputs.push(valueInfo(name, type, shape, docString));
  }

  /** Adds a float32 initializer under its exact `name` (a model weight) and returns the name. Copies nothing. */
  weight(name: string, values: Float32Array, dims: number[]): string {
    return this.addInitializer(name, 'float32', new Uint8Array(values.buffer, values.byteOffset, values.byteLength), dims);
  }

  /** Adds a constant under a unique scoped name and returns that name. */
  constant(label: string, type: 'float32', values: Float32Array, dims: number[]): string;
  constant(label: string, type: 'int64', values: BigInt64Array, dims: number[]): string;
  constant(label: string, type: 'float32' | 'int64', values: Float32Array | BigInt64Array, dims: number[]): string {
    return this.addInitializer(this.uniqueName(label), type, new Uint8Array(values.buffer, values.byteOffset, values.byteLength), dims);
  }

  /** Adds a float32 scalar constant and returns its name. */
  scalar(label: string, value: number): string {
    return this.constant(label, 'float32', Float32Array.of(value), []);
  }

  /** Adds a 1-D int64 constant, the type Reshape shapes, Unsqueeze axes and Slice bounds take, and returns its name. */
  int64s(label: string, values: number[]): string {
    return this.constant(label, 'int64', BigInt64Array.from(values, (value) => BigInt(value)), [values.length]);
  }

  /** Adds a node with one output and returns the output's name. */
  node(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}): string {
    const output = this.uniqueName(opType);
    this.claim(output);
    this.nodes.push({ name: output, opType, input: inputs, output: [output], attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)) });
    return output;
  }

  /** Returns the finished graph. */
  build(name: string, docString?: string): GraphProto {
    return {
      name,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
      ...(docString === undefined ? {} : { docString }),
    };
  }

  private addInitializer(name: string, type: TensorElementType, rawData: Uint8Array, dims: number[]): string {
    const expected = dims.reduce((a, b) => a * b, 1) * (type === 'int64' ? 8 : 4);
    if (rawData.byteLength !== expected) {
      throw new Error(`initializer "${name}" has ${rawData.byteLength} bytes, but shape [${dims.join(', ')}] of ${type} needs ${expected}`);
    }
    this.claim(name);
    this.initializers.push({ name, dims, dataType: TENSOR_TYPE[type], rawData });
    return name;
  }

  private uniqueName(label: string): string {
    const base = [...this.scopes, label].join('/');
    let count = this.used.get(base) ?? 0;
    let name = count === 0 ? base : `${base}_${count}`;
    while (this.names.has(name)) name = `${base}_${++count}`;
    this.used.set(base, count + 1);
    return name;
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`ONNX value name "${name}" is used twice; every input, initializer and output needs its own`);
    this.names.add(name);
  }
}

function valueInfo(name: string, type: TensorElementType, shape: DimensionSpec[], docString?: string): ValueInfoProto {
  const dim: Dimension[] = shape.map((size) => (typeof size === 'number' ? { dimValue: size } : { dimParam: size }));
  return { name, type: { tensorType: { elemType: TENSOR_TYPE[type], shape: { dim } } }, ...(docString === undefined ? {} : { docString }) };
}

function attribute(name: string, value: AttributeValue): AttributeProto {
  if ('float' in value) return { name, type: ATTRIBUTE_TYPE.float, f: value.float };
  if ('int' in value) return { name, type: ATTRIBUTE_TYPE.int, i: value.int };
  return { name, type: ATTRIBUTE_TYPE.ints, ints: value.ints };
}
