#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { createLogger, runMain } from '@mcm/common';
import type { BackendPreference } from '@mcm/model';
import type { CheckpointKind } from '@mcm/training';
import { exportRunToOnnx } from './export-onnx.ts';
import type { EngineName } from './scoring-model.ts';
import { SERVING_DEFAULTS, startServer } from './server.ts';

interface ServeCommandOptions {
  run: string;
  checkpoint: CheckpointKind;
  host: string;
  port: number;
  config?: string;
  dataRoot?: string;
  backend: BackendPreference;
  engine: EngineName;
  onnxThreads: number;
  maxK: number;
  maxEvents?: number;
  bodyLimit: number;
  pollSeconds: number;
}

const program = new Command('mcm-serving').description('Serve a trained customer model over HTTP.').showHelpAfterError();

program
  .command('serve')
  .description(
    'Serve top-K and embedding requests from a training run, by customer id or from raw events, and load each new checkpoint ' +
      'the trainer promotes without a restart. The API is described at /openapi.json.',
  )
  .requiredOption('--run <dir>', 'run directory of "nx run trainer:train" (its --out)')
  .option('--checkpoint <kind>', 'checkpoint to serve and watch: best or last', oneOf(['best', 'last'] as const), SERVING_DEFAULTS.checkpoint)
  .option('--host <address>', 'address to listen on', SERVING_DEFAULTS.host)
  .option('--port <port>', 'TCP port to listen on; 0 picks a free one', integerBetween(0, 65_535), SERVING_DEFAULTS.port)
  .option('--config <file>', 'dataset config the data was ingested with; enables requests with raw events')
  .option('--data-root <dir>', "directory the config's catalog path is relative to (default: the MCM_DATA_ROOT environment variable)")
  .option(
    '--engine <engine>',
    'inference engine: onnx (each checkpoint exported to ONNX in memory and run on onnxruntime-node; about 3 times the ' +
      'batch-1 top-K throughput of tfjs in docs/benchmarks.md) or tfjs. onnx falls back to tfjs, with a warning in the log, ' +
      'when onnxruntime-node cannot be loaded or a checkpoint fails to export',
    oneOf(['onnx', 'tfjs'] as const),
    SERVING_DEFAULTS.engine,
  )
  .option(
    '--onnx-threads <threads>',
    'threads onnxruntime uses inside one operator; with 2, its spinning worker thread competed with the HTTP work for ' +
      'the cores and served fewer requests than with 1',
    integerBetween(1, 256),
    SERVING_DEFAULTS.onnxThreads,
  )
  .option('--backend <backend>', 'tfjs backend, for --engine tfjs and the fallback: auto (fastest that loads), tensorflow, wasm or cpu', oneOf(['auto', 'tensorflow', 'wasm', 'cpu'] as const), 'auto')
  .option('--max-k <k>', 'largest k a top-K request may ask for', integerBetween(1, 100_000), SERVING_DEFAULTS.maxK)
  .option('--max-events <events>', "most raw events per request (default: the model's maxLength)", integerBetween(1, 1_000_000))
  .option('--body-limit <bytes>', 'largest request body in bytes', integerBetween(1_024, 1024 ** 3), SERVING_DEFAULTS.bodyLimit)
  .option('--poll-seconds <seconds>', 'seconds between two checks of the checkpoint, in case a file event is missed', positiveNumber, SERVING_DEFAULTS.pollMs / 1000)
  .action(async (options: ServeCommandOptions) => {
    const logger = createLogger('serving');
    const server = await startServer({
      runDir: options.run,
      checkpoint: options.checkpoint,
      host: options.host,
      port: options.port,
      datasetConfig: options.config ?? null,
      dataRoot: options.dataRoot ?? process.env.MCM_DATA_ROOT ?? null,
      backend: options.backend,
      engine: options.engine,
      onnxThreads: options.onnxThreads,
      maxK: options.maxK,
      ...(options.maxEvents === undefined ? {} : { maxEvents: options.maxEvents }),
      bodyLimit: options.bodyLimit,
      pollMs: options.pollSeconds * 1000,
      logger,
    });

    const shutdown = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      server.close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });

program
  .command('export-onnx')
  .description(
    "Write a run's checkpoint as an ONNX model (opset 17) for onnxruntime or another ONNX runtime. The graph takes the " +
      'prepared arrays of a batch (ids/<feature>, weights/<feature>, position_ids, key_mask, mean_weights, last_indices) and ' +
      "outputs scores/<task> over each task's vocabulary and the customer embedding. The server does not need this file: " +
      'it exports every checkpoint it loads in memory.',
  )
  .requiredOption('--run <dir>', 'run directory of "nx run trainer:train" (its --out)')
  .option('--checkpoint <kind>', 'checkpoint to export: best or last', oneOf(['best', 'last'] as const), SERVING_DEFAULTS.checkpoint)
  .option('--out <file>', 'output file (default: <run>/model.onnx)')
  .action(async (options: { run: string; checkpoint: CheckpointKind; out?: string }) => {
    const logger = createLogger('serving');
    await exportRunToOnnx({ runDir: options.run, checkpoint: options.checkpoint, ...(options.out === undefined ? {} : { out: options.out }), logger });
  });

function oneOf<T extends string>(values: readonly T[]): (value: string) => T {
  return (value) => {
    if (!values.includes(value as T)) throw new InvalidArgumentError(`must be one of ${values.join(', ')}, got "${value}"`);
    return value as T;
  };
}

function integerBetween(min: number, max: number): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < min || number > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}, got "${value}"`);
    }
    return number;
  };
}

function positiveNumber(value: string): number {
  const number = Number(value);
  if (!(number > 0) || !Number.isFinite(number)) throw new InvalidArgumentError(`must be a number above 0, got "${value}"`);
  return number;
}

await runMain('mcm-serving', () => program.parseAsync(process.argv));
