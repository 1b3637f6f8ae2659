import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { registerSynthCommand } from '../src/synth-command.ts';

async function runCli(...args: string[]): Promise<void> {
  const program = new Command('mcm-pipeline').exitOverride();
  registerSynthCommand(program);
  await program.parseAsync(['node', 'mcm-pipeline', 'synth', ...args]);
}

describe('synth command', () => {
  let root: string;
  const logLevel = process.env.MCM_LOG_LEVEL;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'mcm-synth-cli-'));
    process.env.MCM_LOG_LEVEL = 'silent';
  });

  afterEach(() => {
    process.exitCode = undefined;
  });

  afterAll(async () => {
    if (logLevel === undefined) delete process.env.MCM_LOG_LEVEL;
    else process.env.MCM_LOG_LEVEL = logLevel;
    await rm(root, { recursive: true, force: true });
  });

  it('flags and --params set parameters', async () => {
    const out = join(root, 'flags');
    const params = join(root, 'params.json');
    await writeFile(params, JSON.stringify({ complementProbability: 0.3, days: 10 }));

    await runCli('--out', out, '--customers', '150', '--seed', '9', '--days', '30', '--params', params);

    expect(process.exitCode).toBeUndefined();
    expect((await readdir(out)).sort()).toEqual(['catalog.csv.gz', 'events-00000.csv.gz', 'generator.json']);
    const summary = JSON.parse(await readFile(join(out, 'generator.json'), 'utf8'));
    expect(summary.parameters.customers).toBe(150);
    expect(summary.parameters.seed).toBe(9);
    expect(summary.parameters.days).toBe(30);
    expect(summary.parameters.complementProbability).toBe(0.3);
    expect(summary.counts.customers).toBe(150);
  });

  it('occupied --out fails unless --overwrite', async () => {
    const out = join(root, 'twice');
    await runCli('--out', out, '--customers', '50');
    await expect(runCli('--out', out, '--customers', '50')).rejects.toThrow('--overwrite');

    await runCli('--out', out, '--customers', '60', '--overwrite');
    expect(process.exitCode).toBeUndefined();
    const summary = JSON.parse(await readFile(join(out, 'generator.json'), 'utf8'));
    expect(summary.counts.customers).toBe(60);
  });

  it('invalid parameter names its flag', async () => {
    await expect(runCli('--out', join(root, 'invalid'), '--customers', '0')).rejects.toThrow(
      'customers must be between 1 and 100000000 (customers), got 0; pass --customers with a valid value',
    );
  });

  it('invalid --params value names the file', async () => {
    const params = join(root, 'invalid-params.json');
    await writeFile(params, JSON.stringify({ complementProbability: 2 }));

    await expect(runCli('--out', join(root, 'invalid-params'), '--params', params)).rejects.toThrow(
      `complementProbability must be between 0 and 1 (probability per trigger), got 2; fix "complementProbability" in the --params file ${params}`,
    );
  });

  it('--params file that is not JSON names the file', async () => {
    const params = join(root, 'broken.json');
    await writeFile(params, '{"days": 30,');

    await expect(runCli('--out', join(root, 'broken'), '--params', params)).rejects.toThrow(`--params file ${params} is not valid JSON (`);
  });

  it('non-numeric flag is rejected by the parser', async () => {
    await expect(runCli('--out', join(root, 'nan'), '--customers', 'many')).rejects.toThrow(/"many" is not a number/);
  });

  it('help lists every parameter', () => {
    const program = new Command('mcm-pipeline');
    registerSynthCommand(program);
    const synth = program.commands.find((command) => command.name() === 'synth')!;
    let help = '';
    synth.configureOutput({ writeOut: (text) => (help += text) });
    synth.outputHelp();

    for (const name of ['customers', 'complementProbability', 'repurchaseProbability', 'customersPerFile']) expect(help).toContain(name);
    expect(help).toContain('Default: 1000');
  });
});
