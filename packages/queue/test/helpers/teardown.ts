import { afterEach } from 'vitest';

/** Clean-up steps of the running test, run after it in reverse order of registration. */
export class Teardown {
  private steps: Array<() => Promise<void>> = [];

  add(step: () => Promise<void>): void {
    this.steps.push(step);
  }

  /** Runs and then clears every registered step, the last registered first. */
  async run(): Promise<void> {
    const steps = this.steps.reverse();
    this.steps = [];
    for (const step of steps) await step();
  }
}

/** Returns a Teardown whose steps run after each test of the calling file. */
export function useTeardown(): Teardown {
  const teardown = new Teardown();
  afterEach(() => teardown.run());
  return teardown;
}
