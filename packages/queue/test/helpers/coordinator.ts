import { GradientCoordinator, type CoordinatorOptions } from '../../src/gradient-coordinator.ts';
import type { ReferenceRun } from './fixture.ts';
import type { Teardown } from './teardown.ts';

/** Coordinator options of a test run, without the parts that follow from the fixture. */
export type FixtureCoordinatorOptions = Omit<CoordinatorOptions, 'data' | 'description' | 'encoding'>;

/**
 * Starts a coordinator that trains on the fixture dataset of `suite`, describes its tiny model
 * (all features and tasks) to the workers and requests sparse-row gradients in float32.
 * `teardown` closes it after the test.
 */
export async function startFixtureCoordinator(teardown: Teardown, suite: ReferenceRun, options: FixtureCoordinatorOptions): Promise<GradientCoordinator> {
  const { config } = suite;
  const coordinator = await GradientCoordinator.start({
    ...options,
    data: suite.data,
    description: { modelName: 'mcm', modelConfig: config, features: config.features.map((f) => f.name), tasks: config.tasks.map((t) => t.name) },
    encoding: { sparseRows: true, denseFloat16: false },
  });
  teardown.add(() => coordinator.close());
  return coordinator;
}
