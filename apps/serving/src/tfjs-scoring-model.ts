import { CustomerModel, type ModelConfig, type ModelWeights, type SequenceBatch } from '@mcm/model';
import { warmUpBatch, type ScoringModel } from './scoring-model.ts';

/** A checkpoint on tfjs, with the backend `initBackend` selected. */
export class TfjsScoringModel implements ScoringModel {
  readonly engine = 'tfjs';

  private constructor(private readonly model: CustomerModel) {}

  /** Builds the model, sets the checkpoint's weights and runs one warm-up pass, so the first request does not pay for kernel set-up. */
  static load(config: ModelConfig, weights: ModelWeights): TfjsScoringModel {
    const model = CustomerModel.create(config, 0);
    try {
      model.setWeights(weights);
      const batch = warmUpBatch(model.config);
      model.scores(batch, model.config.tasks[0]!.name).dispose();
      model.embed(batch).dispose();
    } catch (error) {
      model.dispose();
      throw error;
    }
    return new TfjsScoringModel(model);
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  async scores(batch: SequenceBatch, task: string): Promise<Float32Array> {
    const tensor = this.model.scores(batch, task); // [B, vocabularySize]
    try {
      return tensor.dataSync() as Float32Array;
    } finally {
      tensor.dispose();
    }
  }

  async embed(batch: SequenceBatch): Promise<Float32Array> {
    const tensor = this.model.embed(batch); // [B, hidden]
    try {
      return tensor.dataSync() as Float32Array;
    } finally {
      tensor.dispose();
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}
