import { Random } from '@mcm/common';
import { buildBatch, buildLabels, type ExampleRef } from '../batch.ts';
import type { CustomerRecord, TrainingData } from '../data/training-data.ts';
import type { BatchSampler, SampledBatch, SamplerOptions, SamplerState } from './batch-sampler.ts';
import { bucketByLength } from './length-buckets.ts';

export const RANDOM_PREFIX_SAMPLER = 'random-prefix';

/** A drawn example: a customer (index into TrainingData.customers) and the number of events in its prefix. */
interface PrefixDraw {
  customer: number;
  prefixLength: number;
}

interface RandomPrefixState extends SamplerState {
  epoch: number;
  /** Position of the next customer in this epoch's shuffled order. */
  cursor: number;
  random: number[];
  /** Batches drawn into the length-bucketing pool but not yet returned, as [customer, prefixLength] pairs. */
  pending: Array<Array<[number, number]>>;
}

/**
 * The random prefix augmentation of MCM. Each epoch visits the trainable customers in
 * a seeded shuffled order. For a customer with n leading training events, the
 * prefix length p is drawn uniformly from 1..n-1: the prefix (its last maxLength
 * events) is the input, and training event p (0-based) is the label of every task.
 * Validation and test events are never part of a prefix or a label.
 */
export class RandomPrefixSampler implements BatchSampler {
  readonly name = RANDOM_PREFIX_SAMPLER;
  private readonly data: TrainingData;
  private readonly options: SamplerOptions;
  private epoch = 0;
  private cursor = 0;
  private order: Int32Array;
  private random: Random;
  private pending: PrefixDraw[][] = [];

  constructor(data: TrainingData, options: SamplerOptions) {
    if (data.trainable.length === 0) {
      throw new Error(
        `${data.dir}: no customer has two or more training events, so the random prefix sampler has no example; ` +
          `${data.stats.singleTrainingEvent} customers have a single training event. Move the training cut-off later or use a larger dataset`,
      );
    }
    this.data = data;
    this.options = options;
    this.random = new Random((options.seed ^ 0x5bd1e995) >>> 0);
    this.order = this.shuffledOrder(0);
  }

  next(): SampledBatch {
    if (this.pending.length === 0) this.pending = this.drawBatches();
    const draws = this.pending.shift()!;
    return this.toBatch(draws, this.epoch);
  }

  getState(): RandomPrefixState {
    return {
      sampler: this.name,
      epoch: this.epoch,
      cursor: this.cursor,
      random: this.random.getState(),
      pending: this.pending.map((batch) => batch.map((draw) => [draw.customer, draw.prefixLength] as [number, number])),
    };
  }

  setState(state: SamplerState): void {
    if (state.sampler !== this.name) {
      throw new Error(`cannot restore sampler "${this.name}" from the state of sampler "${state.sampler}"`);
    }
    const saved = state as RandomPrefixState;
    this.epoch = saved.epoch;
    this.cursor = saved.cursor;
    this.random = new Random(saved.random);
    this.order = this.shuffledOrder(saved.epoch);
    this.pending = saved.pending.map((batch) =>
      batch.map(([customer, prefixLength]) => {
        this.checkDraw(customer, prefixLength);
        return { customer, prefixLength };
      }),
    );
  }

  /** Draws the next pool of examples and groups it into batches, by length when bucketing is on. */
  private drawBatches(): PrefixDraw[][] {
    const { batchSize, bucketBatches } = this.options;
    const poolBatches = Math.max(1, bucketBatches);
    const draws: PrefixDraw[] = [];
    for (let i = 0; i < poolBatches * batchSize; i++) draws.push(this.drawExample());

    if (poolBatches === 1) return [draws];
    const maxLength = this.options.maxLength;
    return bucketByLength(draws, (draw) => Math.min(draw.prefixLength, maxLength), batchSize, this.random);
  }

  private drawExample(): PrefixDraw {
    if (this.cursor >= this.order.length) {
      this.epoch++;
      this.cursor = 0;
      this.order = this.shuffledOrder(this.epoch);
    }
    const customer = this.order[this.cursor++]!;
    const record = this.data.customers[customer]!;
    const trainingEvents = record.trainEnd - record.start;
    const prefixLength = 1 + this.random.int(trainingEvents - 1);
    return { customer, prefixLength };
  }

  /** Returns the trainable customers in the order of `epoch`, a shuffle that depends only on the seed and the epoch. */
  private shuffledOrder(epoch: number): Int32Array {
    const random = new Random((this.options.seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
    return Int32Array.from(random.shuffle(Array.from(this.data.trainable)));
  }

  private toBatch(draws: readonly PrefixDraw[], epoch: number): SampledBatch {
    const examples: ExampleRef[] = [];
    const customerIds: string[] = [];
    for (const draw of draws) {
      const record = this.data.customers[draw.customer]!;
      examples.push(prefixExample(this.data, record, draw.prefixLength, this.options.maxLength));
      customerIds.push(record.id);
    }
    return {
      examples,
      customerIds,
      batch: buildBatch(examples, this.options.features),
      labels: buildLabels(examples, this.options.tasks),
      epoch,
    };
  }

  private checkDraw(customer: number, prefixLength: number): void {
    const record = this.data.customers[customer];
    if (record === undefined || prefixLength < 1 || prefixLength >= record.trainEnd - record.start) {
      throw new Error(
        `sampler state names customer ${customer} with prefix length ${prefixLength}, which this dataset does not have; ` +
          'the checkpoint belongs to other data',
      );
    }
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
