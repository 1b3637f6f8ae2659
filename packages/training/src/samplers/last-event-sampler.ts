import { buildBatch, buildLabels } from '../batch.ts';
import type { TrainingData } from '../data/training-data.ts';
import type { SampledBatch, SamplerOptions } from './batch-sampler.ts';
import { CustomerEpochSampler, type CustomerDraw } from './customer-epoch-sampler.ts';
import { prefixExample } from './random-prefix-sampler.ts';

export const LAST_EVENT_SAMPLER = 'last-event';

/**
 * Next-event training without prefix augmentation: each customer gives one example per
 * epoch, its whole training history but the last event as input (the most recent
 * maxLength events of it) and that last training event as the label of every task. It
 * is the random prefix sampler with the prefix fixed at its longest, which makes it
 * the ablation that shows what the random prefixes add.
 */
export class LastEventSampler extends CustomerEpochSampler {
  readonly name = LAST_EVENT_SAMPLER;

  constructor(data: TrainingData, options: SamplerOptions) {
    super(data, options, 'last-event');
  }

  protected inputLength(draw: CustomerDraw): number {
    const record = this.record(draw);
    return Math.min(record.trainEnd - record.start - 1, this.options.maxLength);
  }

  protected toBatch(draws: readonly CustomerDraw[], epoch: number): SampledBatch {
    const examples = draws.map((draw) => {
      const record = this.record(draw);
      return prefixExample(this.data, record, record.trainEnd - record.start - 1, this.options.maxLength);
    });
    return {
      examples,
      customerIds: draws.map((draw) => this.record(draw).id),
      batch: buildBatch(examples, this.options.features),
      labels: buildLabels(examples, this.options.tasks),
      epoch,
    };
  }
}
