import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPOSITORY = resolve(import.meta.dirname, '../../..');
const FIXTURES = join(REPOSITORY, 'packages/features/test/fixtures');

/** Runs `mcm-pipeline <args>` in a child process, as a user would, and returns its exit code and stderr. */
async function runPipeline(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await promisify(execFile)('npx', ['tsx', 'apps/pipeline/src/cli.ts', ...args], {
      cwd: REPOSITORY,
      env: { ...process.env, MCM_LOG_LEVEL: 'info', MCM_LOG_FORMAT: 'json' },
    });
    return { code: 0, stderr };
  } catch (error) {
    const failure = error as { code: number; stderr: string };
    return { code: failure.code, stderr: failure.stderr };
  }
}

describe('pipeline command errors', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'mcm-pipeline-cli-'));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('synth prints one line for an invalid parameter', async () => {
    const { code, stderr } = await runPipeline('synth', '--out', join(root, 'synth'), '--customers', '0');

    expect(code).toBe(1);
    expect(stderr).toBe('mcm-pipeline: customers must be between 1 and 100000000 (customers), got 0; pass --customers with a valid value\n');
  });

  it('ingest prints its error without a stack', async () => {
    const config = join(root, 'missing-column.json');
    await writeFile(
      config,
      JSON.stringify({
        name: 'basic',
        events: {
          path: 'basic/events.csv',
          customer: 'customer_id',
          item: 'product_id',
          time: { column: 'event_time', format: 'iso' },
          eventType: { column: 'event_type' },
        },
        categoryPath: { column: 'category_code' },
        brand: { column: 'brand' },
        split: { kind: 'leave-last-out' },
      }),
    );

    const { code, stderr } = await runPipeline('ingest', '--config', config, '--data-root', FIXTURES, '--out', join(root, 'ingest'), '--threads', '1');
    const lines = stderr.trimEnd().split('\n');

    expect(code).toBe(1);
    expect(lines.at(-1)).toMatch(/^mcm-pipeline: basic\/events\.csv has no column "customer_id" \(events\[0\]\.customer\)/);
    expect(lines.filter((line) => line.startsWith('mcm-pipeline:'))).toHaveLength(1);
    expect(stderr).not.toContain('"stack"');
    expect(stderr).not.toContain('    at ');
  });
});
