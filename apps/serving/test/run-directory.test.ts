import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type * as ModelModule from '@mcm/model';
import { readServingRun } from '../src/run-directory.ts';
import { startServer } from '../src/server.ts';

const initBackend = vi.hoisted(() => vi.fn());
vi.mock('@mcm/model', async (importOriginal) => ({ ...(await importOriginal<typeof ModelModule>()), initBackend }));

describe('serving run directory', () => {
  it('names a missing run directory', async () => {
    const runDir = join(tmpdir(), 'mcm-no-such-run');

    await expect(readServingRun(runDir, 'best')).rejects.toThrow(
      `run directory ${runDir} not found: pass the --out directory of "nx run trainer:train" as --run`,
    );
  });

  it('names a directory without config.json', async () => {
    const runDir = await mkdtemp(join(tmpdir(), 'mcm-run-'));

    await expect(readServingRun(runDir, 'best')).rejects.toThrow(`${join(runDir, 'config.json')} not found, so this is not a training run`);
  });

  it('names a config.json that is not JSON', async () => {
    const runDir = await mkdtemp(join(tmpdir(), 'mcm-run-'));
    await writeFile(join(runDir, 'config.json'), '{"model": "mcm",');

    await expect(readServingRun(runDir, 'best')).rejects.toThrow(`${join(runDir, 'config.json')} is not valid JSON (`);
  });

  it('checks the run before loading the backend', async () => {
    const runDir = join(tmpdir(), 'mcm-no-such-run');

    await expect(startServer({ runDir })).rejects.toThrow(`run directory ${runDir} not found`);
    expect(initBackend).not.toHaveBeenCalled();
  });
});
