import { buildBatch, buildPositionLabels, type ExampleRef } from '../batch.ts';
import type { TrainingData } from '../data/training-data.ts';
import type { SampledBatch, SamplerOptions } from './batch-sampler.ts';
import { CustomerEpochSampler, type CustomerDraw } from './customer-epoch-sampler.ts';

export const CAUSAL_SAMPLER = 'causal';

/**
 * SASRec's objective: next-event prediction at every position. Each customer gives one
 * example per epoch: the most recent maxLength + 1 training events e_0 .. e_m, whose
 * first m events are the input; position t is labelled with every task's value at
 * e_{t+1}. Causal attention keeps position t from seeing e_{t+1}, so the model must
 * use the causal mask; the labels are per position (`labelLayout: 'positions'`).
 */
export class CausalSampler extends CustomerEpochSampler {
  readonly name = CAUSAL_SAMPLER;

  constructor(data: TrainingData, options: SamplerOptions) {
    super(data, options, 'causal');
  }

  protected inputLength(draw: CustomerDraw): number {
    const record = this.record(draw);
    return Math.min(record.trainEnd - record.start - 1, this.options.maxLength);
  }

  protected toBatch(draws: readonly CustomerDraw[], epoch: number): SampledBatch {
    const examples: ExampleRef[] = draws.map((draw) => {
      const record = this.record(draw);
      const end = record.trainEnd - 1; // the last training event is only a label
      return { shard: this.data.shards[record.shard]!, customer: record.customer, start: Math.max(record.start, end - this.options.maxLength), end };
    });
    const batch = buildBatch(examples, this.options.features);

    // Position t (a real event) is labelled with the event after it; padding gets no label.
    const labels = buildPositionLabels(examples, this.options.tasks, batch.length, (b, t) => (t < batch.lengths[b]! ? examples[b]!.start + t + 1 : -1));

    return {
      examples,
      customerIds: draws.map((draw) => this.record(draw).id),
      batch,
      labels,
      labelLayout: 'positions',
      epoch,
    };
  }
}
