import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { createLogger, type Logger } from '@mcm/common';
import { generate, PARAMETER_SPECS, resolveParameters, type ParameterName, type SynthParameters } from '@mcm/synth';

interface SynthOptions {
  out: string;
  params?: string;
  overwrite?: boolean;
  customers?: number;
  seed?: number;
  days?: number;
  start?: string;
  items?: number;
  customersPerFile?: number;
}

/** Parameters that have their own flag; every parameter can also be set through --params. */
const FLAG_PARAMETERS = ['customers', 'seed', 'days', 'start', 'items', 'customersPerFile'] as const satisfies readonly ParameterName[];

/** Registers `synth`: the generator of realistic e-commerce logs for tests, demos and benchmarks. */
export function registerSynthCommand(program: Command): void {
  const command = program
    .command('synth')
    .description(
      'Generate realistic e-commerce logs: catalog.csv.gz, events-NNNNN.csv.gz (epoch-second timestamps) and generator.json. ' +
        'The same seed and parameters give byte-identical files; memory does not grow with the number of customers.',
    )
    .requiredOption('--out <dir>', 'output directory (created if missing); pass it as --data-root to the ingest')
    .option('--customers <n>', flagHelp('customers'), parseNumber)
    .option('--seed <s>', flagHelp('seed'), parseNumber)
    .option('--days <n>', flagHelp('days'), parseNumber)
    .option('--start <time>', flagHelp('start'))
    .option('--items <n>', flagHelp('items'), parseNumber)
    .option('--customers-per-file <n>', flagHelp('customersPerFile'), parseNumber)
    .option('--params <file>', 'JSON file of parameter overrides, e.g. {"complementProbability": 0.3}; flags take precedence')
    .option('--overwrite', 'replace an earlier generator output in --out (default: fail instead)')
    .addHelpText('after', parametersHelp())
    .action(async (options: SynthOptions) => {
      await runSynth(options, createLogger('synth'));
    });
  command.showHelpAfterError();
}

async function runSynth(options: SynthOptions, logger: Logger): Promise<void> {
  const overrides: Record<string, unknown> = options.params === undefined ? {} : await readOverrides(options.params);
  for (const name of FLAG_PARAMETERS) {
    if (options[name] !== undefined) overrides[name] = options[name];
  }
  const parameters = resolveWithHint(overrides, options.params);

  const started = performance.now();
  const summary = await generate({ parameters, outDir: options.out, overwrite: options.overwrite === true, logger });
  const seconds = (performance.now() - started) / 1000;

  const bytes = summary.files.events.reduce((total, file) => total + file.bytes, 0);
  logger.info(
    {
      customers: summary.counts.customers,
      events: summary.counts.events,
      eventsPerSecond: Math.round(summary.counts.events / seconds),
      seconds: Number(seconds.toFixed(2)),
      eventsMegabytes: Number((bytes / 1e6).toFixed(1)),
      predictedMarginAtTrigger: Number(summary.prediction.marginAtTrigger.toFixed(3)),
    },
    'synth summary',
  );
}

async function readOverrides(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`--params file ${path} could not be read (${(error as NodeJS.ErrnoException).code}); pass the path of a JSON file`, {
      cause: error,
    });
  }

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`--params file ${path} is not valid JSON (${(error as Error).message}); write an object such as {"days": 30}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`--params file ${path} must contain a JSON object of parameter names and values, e.g. {"days": 30}`);
  }
  return value as Record<string, unknown>;
}

/**
 * Resolves the generator parameters. The message of a value out of its range or of
 * the wrong type gets the place to fix it: the parameter's flag, or the --params file.
 */
function resolveWithHint(overrides: Record<string, unknown>, paramsFile: string | undefined): SynthParameters {
  try {
    return resolveParameters(overrides);
  } catch (error) {
    const message = (error as Error).message;
    const name = /^(\w+) must be /.exec(message)?.[1];
    if (name === undefined) throw error;

    const hasFlag = (FLAG_PARAMETERS as readonly string[]).includes(name);
    const flag = `--${name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
    const hint = hasFlag || paramsFile === undefined ? `pass ${flag} with a valid value` : `fix "${name}" in the --params file ${paramsFile}`;
    throw new Error(`${message}; ${hint}`, { cause: error });
  }
}

function parseNumber(value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) throw new InvalidArgumentError(`"${value}" is not a number.`);
  return number;
}

function flagHelp(name: ParameterName): string {
  const spec = PARAMETER_SPECS[name];
  return `${spec.description} Unit: ${spec.unit}. Default: ${spec.default}.`;
}

/** Lists every parameter with its default and unit, from the one table that defines them. */
function parametersHelp(): string {
  const lines = Object.entries(PARAMETER_SPECS).map(
    ([name, spec]) => `  ${name.padEnd(30)} ${String(spec.default).padEnd(22)} ${spec.unit}: ${spec.description}`,
  );
  return `\nAll parameters (set any of them with --params; name, default, unit and meaning):\n${lines.join('\n')}\n`;
}
