import { Random } from '@mcm/common';
import type { CustomerRecord, TrainingData } from '../data/training-data.ts';
import type { BatchSampler, SampledBatch, SamplerOptions, SamplerState } from './batch-sampler.ts';
import { bucketByLength } from './length-buckets.ts';

/** A drawn example: a customer (index into TrainingData.customers) and a seed for whatever is random about its example. */
export interface CustomerDraw {
  customer: number;
  seed: number;
}

interface CustomerEpochState extends SamplerState {
  epoch: number;
  /** Position of the next customer in this epoch's shuffled order. */
  cursor: number;
  random: number[];
  /** Batches drawn into the length-bucketing pool but not yet returned, as [customer, seed] pairs. */
  pending: Array<Array<[number, number]>>;
}

/**
 * The skeleton of a sampler that makes one example per trainable customer and epoch:
 * each epoch visits the customers in a seeded shuffled order, and a pool of
 * `bucketBatches` batches is grouped by input length when bucketing is on. Subclasses
 * define how long a draw's input is and how draws become a batch. Everything random
 * about an example comes from its draw's seed, so the state stays small and exact.
 */
export abstract class CustomerEpochSampler implements BatchSampler {
  abstract readonly name: string;
  protected readonly data: TrainingData;
  protected readonly options: SamplerOptions;
  private epoch = 0;
  private cursor = 0;
  private order: Int32Array;
  private random: Random;
  private pending: CustomerDraw[][] = [];

  protected constructor(data: TrainingData, options: SamplerOptions, description: string) {
    if (data.trainable.length === 0) {
      throw new Error(
        `${data.dir}: no customer has two or more training events, so the ${description} sampler has no example; ` +
          `${data.stats.singleTrainingEvent} customers have a single training event. Move the training cut-off later or use a larger dataset`,
      );
    }
    this.data = data;
    this.options = options;
    this.random = new Random((options.seed ^ 0x5bd1e995) >>> 0);
    this.order = this.shuffledOrder(0);
  }

  /** Number of input positions the draw's example has, for length bucketing. */
  protected abstract inputLength(draw: CustomerDraw): number;

  /** Builds the batch of `draws`. */
  protected abstract toBatch(draws: readonly CustomerDraw[], epoch: number): SampledBatch;

  next(): SampledBatch {
    if (this.pending.length === 0) this.pending = this.drawBatches();
    return this.toBatch(this.pending.shift()!, this.epoch);
  }

  getState(): CustomerEpochState {
    return {
      sampler: this.name,
      epoch: this.epoch,
      cursor: this.cursor,
      random: this.random.getState(),
      pending: this.pending.map((batch) => batch.map((draw) => [draw.customer, draw.seed] as [number, number])),
    };
  }

  setState(state: SamplerState): void {
    if (state.sampler !== this.name) {
      throw new Error(`cannot restore sampler "${this.name}" from the state of sampler "${state.sampler}"`);
    }
    const saved = state as CustomerEpochState;
    this.epoch = saved.epoch;
    this.cursor = saved.cursor;
    this.random = new Random(saved.random);
    this.order = this.shuffledOrder(saved.epoch);
    this.pending = saved.pending.map((batch) =>
      batch.map(([customer, seed]) => {
        const record = this.data.customers[customer];
        if (record === undefined || record.trainEnd - record.start < 2) {
          throw new Error(`sampler state names customer ${customer}, which has no training example in this dataset; the checkpoint belongs to other data`);
        }
        return { customer, seed };
      }),
    );
  }

  /** Returns the customer record of a draw. */
  protected record(draw: CustomerDraw): CustomerRecord {
    return this.data.customers[draw.customer]!;
  }

  private drawBatches(): CustomerDraw[][] {
    const { batchSize, bucketBatches } = this.options;
    const poolBatches = Math.max(1, bucketBatches);
    const draws: CustomerDraw[] = [];
    for (let i = 0; i < poolBatches * batchSize; i++) draws.push(this.drawExample());

    if (poolBatches === 1) return [draws];
    return bucketByLength(draws, (draw) => this.inputLength(draw), batchSize, this.random);
  }

  private drawExample(): CustomerDraw {
    if (this.cursor >= this.order.length) {
      this.epoch++;
      this.cursor = 0;
      this.order = this.shuffledOrder(this.epoch);
    }
    const customer = this.order[this.cursor++]!;
    return { customer, seed: this.random.nextUint32() };
  }

  /** Returns the trainable customers in the order of `epoch`, a shuffle that depends only on the seed and the epoch. */
  private shuffledOrder(epoch: number): Int32Array {
    const random = new Random((this.options.seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
    return Int32Array.from(random.shuffle(Array.from(this.data.trainable)));
  }
}
