/**
 * Training time that the progress line's `seq/s` averages over. It equals the interval
 * between two progress log lines (startProgress in @mcm/common), so each line's rate
 * covers about the steps since the line before.
 */
export const THROUGHPUT_WINDOW_SECONDS = 5;

/**
 * Sequences per second over the most recent steps that add up to at least
 * `windowSeconds` of step time. The rate of a single step can swing by two orders of
 * magnitude from one step to the next, so a progress line shows this average instead.
 */
export class ThroughputWindow {
  private readonly steps: Array<{ sequences: number; seconds: number }> = [];

  constructor(private readonly windowSeconds: number = THROUGHPUT_WINDOW_SECONDS) {
    if (!(windowSeconds > 0)) throw new Error(`windowSeconds must be greater than 0, got ${windowSeconds}`);
  }

  /** Records one step that trained `sequences` sequences in `seconds`. */
  add(sequences: number, seconds: number): void {
    this.steps.push({ sequences, seconds });

    // Drop the oldest steps while the newer ones still fill the window.
    while (this.steps.length > 1 && this.secondsAfterOldest() >= this.windowSeconds) this.steps.shift();
  }

  /** Returns the sequences per second over the steps in the window, or 0 before the first step. */
  rate(): number {
    const seconds = this.steps.reduce((total, step) => total + step.seconds, 0);
    const sequences = this.steps.reduce((total, step) => total + step.sequences, 0);
    return seconds > 0 ? sequences / seconds : 0;
  }

  private secondsAfterOldest(): number {
    return this.steps.slice(1).reduce((total, step) => total + step.seconds, 0);
  }
}
