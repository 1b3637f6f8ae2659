import { Random } from '@mcm/common';
import { buildBatch, buildLabels, type ExampleRef } from '../batch.ts';
import type { CustomerRecord, TrainingData } from '../data/training-data.ts';
import type { SampledBatch, SamplerOptions } from './batch-sampler.ts';
import { CustomerEpochSampler, type CustomerDraw } from './customer-epoch-sampler.ts';

export const RANDOM_PREFIX_SAMPLER = 'random-prefix';

/**
 * The random prefix augmentation of MCM. Each epoch visits the trainable customers in
 * a seeded shuffled order. For a customer with n leading training events, the
 * prefix length p is drawn uniformly from 1..n-1: the prefix (its last maxLength
 * events) is the input, and training event p (0-based) is the label of every task.
 * Validation and test events are never part of a prefix or a label.
 */
export class RandomPrefixSampler extends CustomerEpochSampler {
  readonly name = RANDOM_PREFIX_SAMPLER;

  constructor(data: TrainingData, options: SamplerOptions) {
    super(data, options, 'random prefix');
  }

  protected inputLength(draw: CustomerDraw): number {
    return Math.min(this.prefixLength(draw), this.options.maxLength);
  }

  protected toBatch(draws: readonly CustomerDraw[], epoch: number): SampledBatch {
    const examples = draws.map((draw) => prefixExample(this.data, this.record(draw), this.prefixLength(draw), this.options.maxLength));
    return {
      examples,
      customerIds: draws.map((draw) => this.record(draw).id),
      batch: buildBatch(examples, this.options.features),
      labels: buildLabels(examples, this.options.tasks),
      epoch,
    };
  }

  /** Returns the draw's prefix length, uniform in 1..n-1 for n training events. */
  private prefixLength(draw: CustomerDraw): number {
    const record = this.record(draw);
    return 1 + new Random(draw.seed).int(record.trainEnd - record.start - 1);
  }
}

/**
 * Returns the example whose label is training event `prefixLength` of `record` and whose
 * history is the (at most maxLength) events before it.
 */
export function prefixExample(data: TrainingData, record: CustomerRecord, prefixLength: number, maxLength: number): ExampleRef {
  const end = record.start + prefixLength;
  return {
    shard: data.shards[record.shard]!,
    customer: record.customer,
    start: Math.max(record.start, end - maxLength),
    end,
  };
}
