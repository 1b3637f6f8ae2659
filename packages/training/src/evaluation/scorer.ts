import * as tf from '@tensorflow/tfjs-core';
import type { SequenceBatch } from '@mcm/model';
import type { ExampleRef } from '../batch.ts';
import type { TrainableModel } from '../trainable-model.ts';

/**
 * Anything that scores every candidate of a task for a batch of histories: a trained
 * model or a baseline. Evaluation ranks all of them with the same function.
 */
export interface Scorer {
  readonly name: string;
  /** Row-major [examples.length, vocabularySize(task)] scores; higher ranks first. */
  score(batch: SequenceBatch, examples: readonly ExampleRef[], task: string): Float32Array;
}

/** Scores with the model's full-ranking readout; every tensor is freed before returning. */
export function modelScorer(name: string, model: TrainableModel, chunkSize?: number): Scorer {
  return {
    name,
    score(batch, _examples, task) {
      const scores = tf.tidy(() => model.scores(batch, task, chunkSize === undefined ? undefined : { chunkSize }));
      try {
        return scores.dataSync() as Float32Array;
      } finally {
        scores.dispose();
      }
    },
  };
}
