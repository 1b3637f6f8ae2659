import type { StepPoint } from '../run-records.ts';

/**
 * Maximum points per curve in the report. Past a few thousand points a curve of a few
 * hundred pixels shows no more detail, and each point adds about 100 bytes to the file.
 */
export const MAX_REPORT_POINTS = 4_000;

/**
 * Reduces `steps` to at most `maxPoints` by averaging consecutive runs of steps; each
 * mean is placed at the last step of its run. Returns the input when it is short enough.
 */
export function downsampleSteps(steps: readonly StepPoint[], maxPoints = MAX_REPORT_POINTS): StepPoint[] {
  if (steps.length <= maxPoints) return [...steps];
  const size = Math.ceil(steps.length / maxPoints);
  const points: StepPoint[] = [];
  for (let start = 0; start < steps.length; start += size) {
    const bucket = steps.slice(start, start + size);
    const taskLosses: Record<string, number> = {};
    for (const task of Object.keys(bucket[0]!.taskLosses)) taskLosses[task] = mean(bucket.map((point) => point.taskLosses[task]));
    points.push({
      step: bucket.at(-1)!.step,
      loss: mean(bucket.map((point) => point.loss)),
      taskLosses,
      sequencesPerSecond: mean(bucket.map((point) => point.sequencesPerSecond)),
      seconds: mean(bucket.map((point) => point.seconds)),
    });
  }
  return points;
}

function mean(values: Array<number | undefined>): number {
  const finite = values.filter((value): value is number => value !== undefined && Number.isFinite(value));
  return finite.length === 0 ? Number.NaN : finite.reduce((sum, value) => sum + value, 0) / finite.length;
}
