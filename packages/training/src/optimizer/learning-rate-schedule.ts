import type { LearningRateDecay } from '../defaults.ts';

export interface LearningRateSchedule {
  peak: number;
  warmupSteps: number;
  decay: LearningRateDecay;
  /** Last step of the decay; required unless `decay` is `constant`. */
  maxSteps?: number;
  /** Fraction of `peak` reached at `maxSteps` by cosine and linear decay. */
  minRatio: number;
}

/** Rejects a schedule that cannot be computed, naming the option to change. */
export function validateSchedule(schedule: LearningRateSchedule): void {
  if (!(schedule.peak > 0)) throw new Error(`learning rate must be > 0, got ${schedule.peak}`);
  if (!Number.isInteger(schedule.warmupSteps) || schedule.warmupSteps < 0) {
    throw new Error(`warm-up steps must be an integer >= 0, got ${schedule.warmupSteps}`);
  }
  if (!(schedule.minRatio >= 0 && schedule.minRatio <= 1)) {
    throw new Error(`minimum learning-rate ratio must be in [0, 1], got ${schedule.minRatio}`);
  }
  if (schedule.decay !== 'constant' && schedule.maxSteps === undefined) {
    throw new Error(`${schedule.decay} decay needs a step budget: pass --max-steps, or use --decay constant with a time budget`);
  }
}

/**
 * Returns the learning rate of the step with 0-based index `step`. It rises linearly from
 * peak / warmupSteps to peak over the first warmupSteps steps. After that it stays at
 * peak, or decays by a cosine or linearly to peak * minRatio at maxSteps and stays there.
 */
export function learningRateAt(step: number, schedule: LearningRateSchedule): number {
  const { peak, warmupSteps, decay, maxSteps, minRatio } = schedule;
  if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
  if (decay === 'constant' || maxSteps === undefined) return peak;

  const decaySteps = Math.max(1, maxSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  const floor = peak * minRatio;
  if (decay === 'cosine') return floor + (peak - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
  return peak - (peak - floor) * progress;
}
