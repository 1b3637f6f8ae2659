import { afterAll, beforeAll } from 'vitest';
import { initBackend } from '@mcm/model';
import { useCpuBackend } from '../../../training/test/helpers/backend.ts';
import { trainReferenceRun, type ReferenceRun } from './fixture.ts';

/**
 * Registers hooks that select the tfjs backend (cpu unless named) and train the
 * single-process reference run (`maxSteps` steps or the fixture options' default) before the
 * calling file's tests, and that remove its dataset after them. The returned object's fields
 * are set once those tests start.
 */
export function useReferenceRun(maxSteps?: number, backend: 'cpu' | 'wasm' = 'cpu'): ReferenceRun {
  const suite = {} as ReferenceRun;

  beforeAll(async () => {
    if (backend === 'wasm') await initBackend('wasm');
    else await useCpuBackend();
    Object.assign(suite, await trainReferenceRun(maxSteps));
  });

  afterAll(async () => {
    await suite.fixture?.remove();
  });

  return suite;
}
