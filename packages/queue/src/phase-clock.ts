/**
 * Returns milliseconds since the Unix epoch at sub-millisecond resolution. Unlike
 * `performance.now()`, whose origin is each process's start, it is comparable across
 * processes of one machine, so a worker's timestamps can be set against the coordinator's.
 */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Ordered, named time marks of one piece of work. `durations()` returns the seconds
 * between each mark and the one before it, under the later mark's name.
 */
export class PhaseClock {
  readonly started = epochMs();
  private readonly marks: Array<[name: string, at: number]> = [];

  /** Records that the phase `name` ended now; returns the time. */
  mark(name: string): number {
    const at = epochMs();
    this.marks.push([name, at]);
    return at;
  }

  /** Returns the seconds each phase took; a name marked twice gets the sum of both. */
  durations(): Record<string, number> {
    const out: Record<string, number> = {};
    let previous = this.started;
    for (const [name, at] of this.marks) {
      out[name] = (out[name] ?? 0) + (at - previous) / 1000;
      previous = at;
    }
    return out;
  }
}
