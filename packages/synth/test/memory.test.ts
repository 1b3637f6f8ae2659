import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { generate, resolveParameters } from '../src/index.ts';

// Exposes the garbage collector in this worker, so heap sizes are measured after a full collection.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

describe('generator memory', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('heap stays flat as customers grow', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcm-synth-memory-'));
    dirs.push(dir);
    const heapAfterFile: number[] = [];

    const summary = await generate({
      parameters: resolveParameters({ customers: 20_000, customersPerFile: 1_000 }),
      outDir: dir,
      onFileWritten: () => {
        collectGarbage();
        heapAfterFile.push(process.memoryUsage().heapUsed);
      },
    });

    // 20 files of about 28k events each; holding them all would add about 60 MB of CSV text alone.
    expect(heapAfterFile).toHaveLength(20);
    expect(summary.counts.events).toBeGreaterThan(400_000);
    const growth = heapAfterFile[19]! - heapAfterFile[2]!;
    expect(growth, `heap grew by ${(growth / 1e6).toFixed(1)} MB from file 3 to file 20`).toBeLessThan(3e6);
  });
});
