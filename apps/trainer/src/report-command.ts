import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { createLogger, writeFileAtomic } from '@mcm/common';
import { buildRunReport, readRunReportInput } from '@mcm/dashboard';

/** The options of `report`, as commander parses them. */
export interface ReportCommandOptions {
  run: string;
  data?: string;
  out?: string;
}

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description(
      'Write <run>/report.html: one self-contained page of a finished run (configuration, data manifest, per-task loss and validation curves, ' +
        'the metrics against the baselines, backend and wall time) that opens from disk without a server or a network.',
    )
    .requiredOption('--run <dir>', 'run directory written by "trainer:train" or "coordinator:start"; it must contain metrics.json')
    .option('--data <dir>', "ingest output directory whose manifest.json the report shows (default: the one the run was trained on, from config.json)")
    .option('--out <file>', 'path of the report (default: <run>/report.html)')
    .addHelpText('after', '\nThe report and the live dashboard are described in docs/dashboard.md.')
    .action(async (options: ReportCommandOptions) => {
      const path = await runReportCommand(options);
      process.stdout.write(`${path}\n`);
    });
}

/** Writes the report of a finished run and returns its path. */
export async function runReportCommand(options: ReportCommandOptions): Promise<string> {
  const runDir = resolve(options.run);
  const logger = createLogger('trainer', { run: basename(runDir) });
  const input = await readRunReportInput(runDir, options.data === undefined ? undefined : resolve(options.data));
  if (input.manifest === null) logger.warn({ manifest: input.manifestPath }, 'the data manifest was not found; the report names the run\'s fingerprint only (pass --data)');

  const path = options.out === undefined ? join(runDir, 'report.html') : resolve(options.out);
  const html = await buildRunReport(input);
  await writeFileAtomic(path, html);
  logger.info({ file: path, bytes: Buffer.byteLength(html), steps: input.steps.length, validations: input.validation.length }, 'report written');
  return path;
}
