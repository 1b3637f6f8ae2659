import { Random } from '@mcm/common';
import { buildBatch, buildPositionLabels, type ExampleRef } from '../batch.ts';
import type { TrainingData } from '../data/training-data.ts';
import { TRAINING_DEFAULTS } from '../defaults.ts';
import type { SampledBatch, SamplerOptions } from './batch-sampler.ts';
import { CustomerEpochSampler, type CustomerDraw } from './customer-epoch-sampler.ts';

export const CLOZE_SAMPLER = 'cloze';

/**
 * BERT4Rec's Cloze objective. Each customer gives one example per epoch: its most recent
 * maxLength training events, of which each is masked with probability `maskProbability`
 * (at least one per history). A masked event has every input feature replaced by that
 * feature's mask token (id = vocabulary size; the model needs `maskToken`), so nothing of
 * it stays visible, and it is labelled with every task's true value there. Unmasked
 * positions carry no label. The model reads the labels out per position
 * (`labelLayout: 'positions'`) and is asked for the next event by appending a mask event
 * (`maskedInference`).
 */
export class ClozeSampler extends CustomerEpochSampler {
  readonly name = CLOZE_SAMPLER;
  private readonly maskProbability: number;
  /** Feature name -> its mask token id. */
  private readonly maskIds = new Map<string, number>();

  constructor(data: TrainingData, options: SamplerOptions) {
    super(data, options, 'Cloze');
    this.maskProbability = options.maskProbability ?? TRAINING_DEFAULTS.maskProbability;
    if (!(this.maskProbability > 0 && this.maskProbability <= 1)) {
      throw new Error(`mask probability ${this.maskProbability} must be in (0, 1]`);
    }
    for (const name of options.features) {
      const feature = data.manifest.features.find((candidate) => candidate.name === name);
      if (feature === undefined) throw new Error(`input feature "${name}" is not in the manifest of ${data.dir}`);
      this.maskIds.set(name, feature.vocabularySize);
    }
  }

  protected inputLength(draw: CustomerDraw): number {
    const record = this.record(draw);
    return Math.min(record.trainEnd - record.start, this.options.maxLength);
  }

  protected toBatch(draws: readonly CustomerDraw[], epoch: number): SampledBatch {
    const examples: ExampleRef[] = draws.map((draw) => {
      const record = this.record(draw);
      const end = record.trainEnd;
      return { shard: this.data.shards[record.shard]!, customer: record.customer, start: Math.max(record.start, end - this.options.maxLength), end };
    });
    const batch = buildBatch(examples, this.options.features);
    const masked = draws.map((draw, b) => this.maskedPositions(draw.seed, batch.lengths[b]!));

    for (const [name, column] of Object.entries(batch.features)) {
      const mask = this.maskIds.get(name)!;
      masked.forEach((positions, b) => {
        for (const t of positions) {
          const from = (b * batch.length + t) * column.width;
          column.ids.fill(0, from, from + column.width);
          column.ids[from] = mask;
        }
      });
    }

    // A masked position is labelled with the event that was there; the others get no label.
    const maskedSets = masked.map((positions) => new Set(positions));
    const labels = buildPositionLabels(examples, this.options.tasks, batch.length, (b, t) => (maskedSets[b]!.has(t) ? examples[b]!.start + t : -1));

    return {
      examples,
      customerIds: draws.map((draw) => this.record(draw).id),
      batch,
      labels,
      labelLayout: 'positions',
      epoch,
    };
  }

  /** Positions 0 .. length-1 masked for a draw: each with the mask probability, and one at random when none is. */
  private maskedPositions(seed: number, length: number): number[] {
    const random = new Random(seed);
    const positions: number[] = [];
    for (let t = 0; t < length; t++) if (random.next() < this.maskProbability) positions.push(t);
    if (positions.length === 0) positions.push(random.int(length));
    return positions;
  }
}
