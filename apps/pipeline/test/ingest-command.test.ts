import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerIngestCommand } from '../src/ingest-command.ts';

const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '../../../packages/features/test/fixtures');

/** Creates the program with only the ingest command, throwing instead of exiting. */
function createProgram(writeOut: (text: string) => void = () => undefined): Command {
  const program = new Command('mcm-pipeline').exitOverride().configureOutput({ writeOut });
  registerIngestCommand(program);
  return program;
}

/** Runs `mcm-pipeline ingest <args>` in this process and returns what it wrote to stdout. */
async function runCli(...args: string[]): Promise<string> {
  let stdout = '';
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  try {
    await createProgram().parseAsync(['node', 'mcm-pipeline', 'ingest', ...args]);
  } finally {
    write.mockRestore();
  }
  return stdout;
}

describe('ingest command', () => {
  let root: string;
  let configPath: string;
  const logLevel = process.env.MCM_LOG_LEVEL;
  const dataRoot = process.env.MCM_DATA_ROOT;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'mcm-ingest-cli-'));
    process.env.MCM_LOG_LEVEL = 'silent';
    configPath = join(root, 'basic.json');
    await writeFile(
      configPath,
      JSON.stringify({
        name: 'basic',
        events: {
          path: 'basic/events.csv',
          customer: 'user_id',
          item: 'product_id',
          time: { column: 'event_time', format: 'iso' },
          eventType: { column: 'event_type' },
        },
        categoryPath: { column: 'category_code' },
        brand: { column: 'brand' },
        split: { kind: 'time', trainEnd: '2024-01-10', validationEnd: '2024-01-20' },
        shards: 2,
      }),
    );
  });

  afterAll(async () => {
    if (logLevel === undefined) delete process.env.MCM_LOG_LEVEL;
    else process.env.MCM_LOG_LEVEL = logLevel;
    if (dataRoot === undefined) delete process.env.MCM_DATA_ROOT;
    else process.env.MCM_DATA_ROOT = dataRoot;
    await rm(root, { recursive: true, force: true });
  });

  it('explains every option in --help', async () => {
    let help = '';
    const program = createProgram((text) => (help += text));

    await expect(program.parseAsync(['node', 'mcm-pipeline', 'ingest', '--help'])).rejects.toMatchObject({ code: 'commander.helpDisplayed' });
    for (const option of ['--config <file>', '--out <dir>', '--data-root <dir>', '--memory-limit <size>', '--threads <n>']) {
      expect(help).toContain(option);
    }
    expect(help).toContain('MCM_DATA_ROOT');
    expect(help).toContain('maxRejectFraction (default 0.01)');
    const unwrapped = help.replace(/\s+/g, ' ');
    expect(unwrapped).toContain('replace those of an earlier run only when the ingest succeeds');
    expect(unwrapped).toContain('writes its rejected rows to <out>/failed/rejects.csv');
  });

  it('ingests a config and prints a summary', async () => {
    const out = join(root, 'out');
    const stdout = await runCli('--config', configPath, '--out', out, '--data-root', FIXTURES, '--threads', '1');
    const summary = JSON.parse(stdout) as Record<string, unknown>;
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as Record<string, unknown>;

    expect(summary).toMatchObject({ out, customers: 3, events: 9, rowsRead: 10, rejectedRows: 0, duplicateRows: 1 });
    expect(manifest.dataset).toBe('basic');
    expect(manifest.shards).toHaveLength(2);
  });

  it('reads the data root from MCM_DATA_ROOT', async () => {
    process.env.MCM_DATA_ROOT = FIXTURES;
    const stdout = await runCli('--config', configPath, '--out', join(root, 'from-env'));

    expect(JSON.parse(stdout)).toMatchObject({ customers: 3 });
  });

  it('asks for a data root', async () => {
    delete process.env.MCM_DATA_ROOT;

    await expect(runCli('--config', configPath, '--out', join(root, 'no-root'))).rejects.toThrow(
      'no data root: pass --data-root <dir> or set MCM_DATA_ROOT',
    );
  });

  it('reports an invalid config', async () => {
    const invalid = join(root, 'invalid.json');
    await writeFile(invalid, JSON.stringify({ name: 'x', events: { path: 'a.csv' } }));

    await expect(runCli('--config', invalid, '--out', join(root, 'invalid'), '--data-root', FIXTURES)).rejects.toThrow(
      `${invalid}: invalid dataset config:\n  - events[0].customer: is required`,
    );
  });

  it('rejects a thread count below 1', async () => {
    await expect(runCli('--config', configPath, '--out', join(root, 'threads'), '--threads', '0')).rejects.toThrow(
      'must be a whole number of at least 1, got "0"',
    );
  });
});
