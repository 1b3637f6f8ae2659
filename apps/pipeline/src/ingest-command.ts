import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { createLogger } from '@mcm/common';
import { INGEST_DEFAULTS, runIngest } from '@mcm/features';
import { loadDatasetConfig } from '@mcm/schema';

interface IngestCommandOptions {
  config: string;
  out: string;
  dataRoot?: string;
  memoryLimit: string;
  threads?: number;
}

/** Registers `ingest`: raw logs + catalog -> vocabularies, shards and manifest.json. */
export function registerIngestCommand(program: Command): void {
  program
    .command('ingest')
    .description(
      'Read the event logs and catalog named by a dataset config, quarantine malformed rows, build the vocabularies ' +
        'from the training period, and write per-customer feature sequences in shards plus manifest.json.',
    )
    .requiredOption('--config <file>', 'dataset config, a datasets/<name>.json file')
    .requiredOption(
      '--out <dir>',
      'output directory (created if missing). The new manifest.json, vocab/, shards/ and rejects.csv replace those of an earlier run ' +
        'only when the ingest succeeds; a failed run leaves them as they were and writes its rejected rows to <out>/failed/rejects.csv',
    )
    .option(
      '--data-root <dir>',
      'directory that the config\'s source paths are relative to (default: the MCM_DATA_ROOT environment variable)',
    )
    .option('--memory-limit <size>', 'DuckDB memory limit such as 1GB or 512MB; beyond it DuckDB spills to <out>/.ingest-staging/spill', INGEST_DEFAULTS.memoryLimit)
    .option('--threads <n>', 'DuckDB worker threads (default: the number of CPU cores)', parsePositiveInteger)
    .addHelpText(
      'after',
      [
        '',
        'Rows with a missing customer, an unparseable time or a broken line are written',
        "to <out>/rejects.csv. The run fails when they exceed the config's",
        'maxRejectFraction (default 0.01), and then keeps them in <out>/failed/rejects.csv.',
        'Logs go to stderr, as JSON lines unless stderr',
        'is a terminal; MCM_LOG_LEVEL sets the level. A one-line JSON summary goes to stdout.',
      ].join('\n'),
    )
    .action(async (options: IngestCommandOptions) => {
      const dataRoot = options.dataRoot ?? process.env.MCM_DATA_ROOT;
      if (dataRoot === undefined || dataRoot === '') {
        throw new InvalidArgumentError('no data root: pass --data-root <dir> or set MCM_DATA_ROOT to the directory that contains the dataset folders');
      }

      const config = await loadDatasetConfig(options.config);
      const logger = createLogger('ingest', { dataset: config.name });
      const manifest = await runIngest({
        config,
        configSource: options.config,
        dataRoot: resolve(dataRoot),
        outDir: resolve(options.out),
        memoryLimit: options.memoryLimit,
        threads: options.threads ?? INGEST_DEFAULTS.threads,
        logger,
      });

      const summary = {
        out: resolve(options.out),
        customers: manifest.customers,
        events: manifest.events,
        rowsRead: manifest.rowsRead,
        rejectedRows: manifest.rejectedRows,
        duplicateRows: manifest.duplicateRows,
        vocabularies: manifest.vocabularies,
        splitEvents: manifest.splitEvents,
      };
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    });
}

function parsePositiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidArgumentError(`must be a whole number of at least 1, got "${value}"`);
  return number;
}
