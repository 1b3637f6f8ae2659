import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const REPOSITORY = resolve(import.meta.dirname, '../../..');

describe('serving command errors', () => {
  it('serve prints one line for a missing run', async () => {
    const runDir = join(tmpdir(), 'mcm-no-such-run');
    const run = promisify(execFile)('npx', ['tsx', 'apps/serving/src/cli.ts', 'serve', '--run', runDir], {
      cwd: REPOSITORY,
      env: { ...process.env, MCM_LOG_LEVEL: 'info', MCM_LOG_FORMAT: 'json' },
    });

    await expect(run).rejects.toMatchObject({
      code: 1,
      stderr: `mcm-serving: run directory ${runDir} not found: pass the --out directory of "nx run trainer:train" as --run\n`,
    });
  });
});
