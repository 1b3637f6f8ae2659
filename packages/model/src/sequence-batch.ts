/**
 * A batch of customer histories as the model reads it: plain typed arrays, turned
 * into tensors inside the model's tidy scopes.
 *
 * Sequences are left-aligned: position 0 contains the oldest event of the window and
 * position lengths[b] - 1 the most recent; positions from lengths[b] to length - 1
 * are padding (id 0, mask 0). Models must give the same output whatever `length`
 * (the amount of padding) is.
 */
export interface SequenceBatch {
  /** B */
  batchSize: number;
  /** T, the padded length. */
  length: number;
  /** [B] number of real events of each sequence, 1..T. */
  lengths: Int32Array;
  /**
   * Feature name -> vocabulary ids, [B * T * width] in (batch, position, slot) order.
   * width is 1 for single-valued features; multi-valued features pad their slots with 0.
   */
  features: Record<string, { ids: Int32Array; width: number }>;
}

/** Next-value labels of a batch: task name -> [B] vocabulary ids. */
export type TaskLabels = Record<string, Int32Array>;
