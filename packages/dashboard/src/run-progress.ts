import type { StepPoint } from './run-records.ts';

/** Steps whose mean duration and throughput the progress figures use: enough to smooth out one slow step, few enough to follow a change of speed. */
export const RECENT_STEPS = 20;

/** The budgets of a run, from its config.json. */
export interface RunBudget {
  maxSteps: number | null;
  budgetMinutes: number | null;
}

/** The progress figures of the dashboard. */
export interface RunProgress {
  step: number;
  /** Mean over the recent steps. */
  sequencesPerSecond: number | null;
  secondsPerStep: number | null;
  /** Seconds since this invocation's first step began; null before it. */
  elapsedSeconds: number | null;
  /** Estimated seconds until training stops; null when neither budget bounds it yet. */
  etaSeconds: number | null;
  /** The budget that ends the run first by that estimate. */
  etaBound: 'max-steps' | 'budget' | null;
}

/**
 * Estimates the progress figures from the recent steps. `trainingStartedAt` is the wall
 * time (ms) at which this invocation's training began, and `now` the current time.
 * NOTE: the estimate leaves out the periodic validations and the final evaluation,
 * so a run with frequent or large validations ends later than its ETA.
 */
export function estimateProgress(steps: readonly StepPoint[], budget: RunBudget, trainingStartedAt: number | null, now: number): RunProgress {
  const last = steps.at(-1);
  const recent = steps.slice(-RECENT_STEPS);
  const secondsPerStep = recent.length === 0 ? null : mean(recent.map((point) => point.seconds));
  const sequencesPerSecond = recent.length === 0 ? null : mean(recent.map((point) => point.sequencesPerSecond));
  const elapsedSeconds = trainingStartedAt === null ? null : Math.max(0, (now - trainingStartedAt) / 1000);

  const step = last?.step ?? 0;
  const bySteps = budget.maxSteps === null || secondsPerStep === null ? null : Math.max(0, budget.maxSteps - step) * secondsPerStep;
  const byBudget = budget.budgetMinutes === null || elapsedSeconds === null ? null : Math.max(0, budget.budgetMinutes * 60 - elapsedSeconds);

  let etaSeconds: number | null = null;
  let etaBound: RunProgress['etaBound'] = null;
  if (bySteps !== null && (byBudget === null || bySteps <= byBudget)) {
    etaSeconds = bySteps;
    etaBound = 'max-steps';
  } else if (byBudget !== null) {
    etaSeconds = byBudget;
    etaBound = 'budget';
  }
  return { step, sequencesPerSecond, secondsPerStep, elapsedSeconds, etaSeconds, etaBound };
}

function mean(values: number[]): number | null {
  const finite = values.filter((value) => Number.isFinite(value));
  return finite.length === 0 ? null : finite.reduce((sum, value) => sum + value, 0) / finite.length;
}
