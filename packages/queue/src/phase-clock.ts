/** The wall clock and the monotonic clock read at the same moment. */
let anchor = { wall: Date.now(), monotonic: performance.now() };

/**
 * Returns milliseconds since the Unix epoch at sub-millisecond resolution, comparable
 * across processes of one machine, so a worker's timestamps can be set against the
 * coordinator's. It follows the wall clock: when the system adjusts it (NTP, a virtual
 * machine catching up), the next call starts from the new time. `performance.timeOrigin`
 * plus `performance.now()` keeps each process on the wall clock as it was at its start.
 * In one run with that, a worker started 50 s after its coordinator finished each job
 * about 245 ms after the coordinator had seen it finish, which such an adjustment
 * explains.
 */
export function epochMs(): number {
  const monotonic = performance.now();
  const wall = Date.now();
  const estimate = anchor.wall + (monotonic - anchor.monotonic);
  // Date.now() has whole milliseconds, so an estimate within 1 ms of it agrees with it.
  if (Math.abs(estimate - wall) <= 1) return estimate;
  anchor = { wall, monotonic };
  return wall;
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
