import type { ModelWeights } from '../customer-model.ts';
import type { OnnxGraphBuilder } from './graph-builder.ts';

/**
 * Hands a checkpoint's weights to the graph as initializers, checking each shape, and
 * checks at the end that every weight was used: a weight the exporter leaves out means
 * the graph and the tfjs model have drifted apart.
 */
export class WeightReader {
  private readonly taken = new Map<string, string>();

  constructor(
    private readonly weights: ModelWeights,
    private readonly graph: OnnxGraphBuilder,
  ) {}

  /** Returns the initializer of weight `name`, adding it on first use. `shape` is the shape the graph expects. */
  take(name: string, shape: number[]): string {
    const weight = this.weights[name];
    if (weight === undefined) throw new Error(`weight "${name}" is missing from the checkpoint; export a checkpoint of this model config`);
    if (weight.shape.length !== shape.length || weight.shape.some((size, i) => size !== shape[i])) {
      throw new Error(`weight "${name}" has shape [${weight.shape.join(', ')}] but the ONNX graph expects [${shape.join(', ')}]`);
    }
    const existing = this.taken.get(name);
    if (existing !== undefined) return existing;

    const initializer = this.graph.weight(name, weight.values, shape);
    this.taken.set(name, initializer);
    return initializer;
  }

  /** Throws when a weight of the checkpoint is not in the graph. */
  assertAllUsed(): void {
    const unused = Object.keys(this.weights).filter((name) => !this.taken.has(name));
    if (unused.length > 0) {
      throw new Error(`the ONNX export does not use the weights ${unused.map((name) => `"${name}"`).join(', ')}; the exporter does not know this layer`);
    }
  }
}
