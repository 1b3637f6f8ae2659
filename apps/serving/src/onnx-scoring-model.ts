import type * as Ort from 'onnxruntime-node';
import type { Logger } from '@mcm/common';
import { exportOnnxModel, ONNX_OUTPUT, onnxEmbeddingFeeds, onnxScoreFeeds, type ModelConfig, type ModelWeights, type OnnxFeed, type SequenceBatch } from '@mcm/model';
import { assertTask, warmUpBatch, type ScoringModel } from './scoring-model.ts';

/** The onnxruntime-node module, loaded at run time because it is an optional dependency. */
export type OnnxRuntime = typeof Ort;

/** Options of `OnnxScoringModel.load`. */
export interface OnnxLoadOptions {
  /** Threads onnxruntime uses inside one operator (intraOpNumThreads). */
  threads: number;
  /** Stored in the exported model's metadata, e.g. the checkpoint step. */
  metadata?: Record<string, string>;
  logger: Logger;
}

/**
 * A checkpoint on onnxruntime's CPU execution provider. The checkpoint is exported to an
 * ONNX graph in memory at load time, so every checkpoint the server loads, hot reloads
 * included, runs on the graph of its own weights.
 */
export class OnnxScoringModel implements ScoringModel {
  readonly engine = 'onnx';
  private disposed = false;

  private constructor(
    private readonly ort: OnnxRuntime,
    private readonly session: Ort.InferenceSession,
    readonly config: ModelConfig,
    private readonly logger: Logger,
  ) {}

  /** Exports the checkpoint, creates the session and runs one warm-up pass of every output. */
  static async load(ort: OnnxRuntime, config: ModelConfig, weights: ModelWeights, options: OnnxLoadOptions): Promise<OnnxScoringModel> {
    const bytes = exportOnnxModel(config, weights, { metadata: options.metadata ?? {} });
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: options.threads,
      // One request runs one graph; there are no independent branches worth a second pool.
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
    const model = new OnnxScoringModel(ort, session, config, options.logger);
    try {
      const batch = warmUpBatch(config);
      await model.session.run(model.tensors(onnxScoreFeeds(config, batch)));
    } catch (error) {
      model.dispose();
      throw error;
    }
    return model;
  }

  async scores(batch: SequenceBatch, task: string): Promise<Float32Array> {
    assertTask(this.config, task);
    // Fetching one output makes onnxruntime run only the nodes it depends on: the other tasks' readouts are skipped.
    const output = ONNX_OUTPUT.scores(task);
    const results = await this.session.run(this.tensors(onnxScoreFeeds(this.config, batch)), [output]);
    return results[output]!.data as Float32Array;
  }

  async embed(batch: SequenceBatch): Promise<Float32Array> {
    const results = await this.session.run(this.tensors(onnxEmbeddingFeeds(this.config, batch)), [ONNX_OUTPUT.embedding]);
    return results[ONNX_OUTPUT.embedding]!.data as Float32Array;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.session.release().catch((error: unknown) => this.logger.error({ err: error }, 'releasing the onnxruntime session failed'));
  }

  private tensors(feeds: Record<string, OnnxFeed>): Record<string, Ort.Tensor> {
    const tensors: Record<string, Ort.Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) tensors[name] = new this.ort.Tensor(feed.type, feed.data, feed.dims);
    return tensors;
  }
}
