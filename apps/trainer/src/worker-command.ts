import type { Command } from 'commander';
import { createLogger } from '@mcm/common';
import { initBackend, type BackendPreference } from '@mcm/model';
import { DEFAULT_PREFIX, policyFromEnvironment, redisUrlFromEnvironment, runWorkerProcess, setHeapGrowth } from '@mcm/queue';
import { addHeapGrowthOption } from './heap-growth-option.ts';
import { integerAtLeast, oneOf } from './option-parsers.ts';

/** The options of `worker`, as commander parses them. */
export interface WorkerCommandOptions {
  queuePrefix: string;
  data?: string;
  backend: BackendPreference;
  id?: string;
  microBatchDelayMs: number;
  prefetchWeights: boolean;
  heapGrowth: number;
}

export function registerWorkerCommand(program: Command): void {
  const command = program
    .command('worker')
    .description(
      'Compute gradients for a distributed run: take gradient jobs of the coordinator from Redis until SIGTERM. ' +
        'REDIS_URL names Redis (redis://[user:password@]host:port[/db], rediss:// for TLS; default redis://127.0.0.1:6379).',
    )
    .option('--queue-prefix <prefix>', "prefix of the queue and keys in Redis; the coordinator's --queue-prefix", DEFAULT_PREFIX)
    .option('--data <dir>', "this host's copy of the ingest output (default: the directory the coordinator reads)")
    .option('--backend <backend>', 'tfjs backend: auto (fastest that loads), tensorflow, wasm or cpu', oneOf(['auto', 'tensorflow', 'wasm', 'cpu'] as const), 'auto')
    .option('--id <id>', 'worker id in logs and job records (default: host, process id and a random suffix)')
    .option('--micro-batch-delay-ms <ms>', 'pause after each micro-batch, to rehearse failures mid-step (0 in production)', integerAtLeast(0), 0)
    .option('--no-prefetch-weights', 'read the weights only once a job starts, instead of as soon as the coordinator announces them');
  addHeapGrowthOption(command)
    .addHelpText('after', '\nMCM_QUEUE_POLICY overrides timeouts and retry counts as JSON, e.g. {"lockDurationMs":120000}; see docs/distributed.md.')
    .action(async (options: WorkerCommandOptions) => {
      await runWorkerCommand(options);
    });
}

/** Runs one gradient worker until SIGTERM or SIGINT. */
export async function runWorkerCommand(options: WorkerCommandOptions): Promise<void> {
  const logger = createLogger('worker');
  const policy = policyFromEnvironment();
  setHeapGrowth(options.heapGrowth);
  const backend = await initBackend(options.backend);
  await runWorkerProcess({
    redisUrl: redisUrlFromEnvironment(),
    prefix: options.queuePrefix,
    policy,
    logger,
    backend: backend.name,
    ...(options.id === undefined ? {} : { id: options.id }),
    ...(options.data === undefined ? {} : { dataDir: options.data }),
    microBatchDelayMs: options.microBatchDelayMs,
    prefetchWeights: options.prefetchWeights,
  });
}
