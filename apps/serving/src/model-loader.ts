import type { Logger } from '@mcm/common';
import type { ModelConfig, ModelWeights } from '@mcm/model';
import { OnnxScoringModel, type OnnxRuntime } from './onnx-scoring-model.ts';
import type { EngineName, ScoringModel } from './scoring-model.ts';
import { TfjsScoringModel } from './tfjs-scoring-model.ts';

export interface ModelLoaderOptions {
  /** The requested engine; `onnx` falls back to tfjs when onnxruntime cannot run a checkpoint. */
  engine: EngineName;
  /** onnxruntime's threads per operator. */
  onnxThreads: number;
  logger: Logger;
  /** Loads onnxruntime-node; tests replace it to check the fallback. */
  importRuntime?: () => Promise<unknown>;
}

/** The checkpoint identity stored in the exported model's metadata. */
export interface CheckpointSource {
  step: number;
  tensorsSha256: string;
}

/**
 * Loads checkpoints on the engine the server was started with. With `onnx`, tfjs takes
 * over in two cases. When onnxruntime-node cannot be imported (not installed, or its
 * native binary does not load on this machine), a warning is logged and every checkpoint
 * runs on tfjs. When one checkpoint fails to export or to open in onnxruntime, an error
 * is logged, that checkpoint runs on tfjs, and the next one tries onnxruntime again.
 */
export class ModelLoader {
  private constructor(
    private readonly options: ModelLoaderOptions,
    /** Null when the engine is tfjs or onnxruntime-node failed to load. */
    private readonly ort: OnnxRuntime | null,
    /** The reason the server runs tfjs although onnx was requested; null otherwise. */
    readonly fallbackReason: string | null,
  ) {}

  /** Imports onnxruntime-node when the engine is `onnx`. An import that fails makes the loader fall back to tfjs instead of throwing. */
  static async create(options: ModelLoaderOptions): Promise<ModelLoader> {
    if (options.engine === 'tfjs') return new ModelLoader(options, null, null);
    try {
      const module = (await (options.importRuntime ?? (() => import('onnxruntime-node')))()) as OnnxRuntime & { default?: OnnxRuntime };
      // Depending on the loader, the CommonJS exports arrive as named exports or as `default`.
      const ort = typeof module.InferenceSession?.create === 'function' ? module : module.default;
      if (typeof ort?.InferenceSession?.create !== 'function') throw new Error('the onnxruntime-node module has no InferenceSession.create');
      return new ModelLoader(options, ort, null);
    } catch (error) {
      const reason = `onnxruntime-node could not be loaded: ${(error as Error).message}`;
      options.logger.warn({ err: error }, `${reason}; serving with tfjs instead of onnx (install onnxruntime-node, or pass --engine tfjs to silence this)`);
      return new ModelLoader(options, null, reason);
    }
  }

  /** The requested engine. */
  get requested(): EngineName {
    return this.options.engine;
  }

  /** The engine checkpoints load on unless a single export fails: onnx, or tfjs after a failed import. */
  get engine(): EngineName {
    return this.ort === null ? 'tfjs' : 'onnx';
  }

  /** Builds a model from a checkpoint's config and weights and warms it up. */
  async load(config: ModelConfig, weights: ModelWeights, source: CheckpointSource): Promise<ScoringModel> {
    if (this.ort === null) return TfjsScoringModel.load(config, weights);

    const { logger, onnxThreads } = this.options;
    try {
      return await OnnxScoringModel.load(this.ort, config, weights, {
        threads: onnxThreads,
        metadata: { 'mcm.step': String(source.step), 'mcm.tensorsSha256': source.tensorsSha256 },
        logger,
      });
    } catch (error) {
      logger.error({ err: error, step: source.step }, 'exporting the checkpoint to onnxruntime failed; serving this checkpoint with tfjs');
      return TfjsScoringModel.load(config, weights);
    }
  }
}
