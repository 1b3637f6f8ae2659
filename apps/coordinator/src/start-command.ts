import { basename, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { createLogger } from '@mcm/common';
import { addDashboardOptions, startCommandDashboard, type RunDashboard } from '@mcm/dashboard';
import {
  closeRedis,
  connectRedis,
  DEFAULT_PREFIX,
  GradientCoordinator,
  policyFromEnvironment,
  redactRedisUrl,
  redisUrlFromEnvironment,
  setHeapGrowth,
} from '@mcm/queue';
import { RANDOM_PREFIX_SAMPLER } from '@mcm/training';
import { addHeapGrowthOption } from '@mcm/trainer/heap-growth-option';
import { addTrainOptions, runTrainCommand, type StepRunner, type TrainCommandOptions, type TrainSetup } from '@mcm/trainer/train-command';
import { warmStartModel } from './nightly/warm-start.ts';
import { startStatusServer } from './status-server.ts';

/** The options of `start`: those of `train` plus the distributed ones. */
export interface StartCommandOptions extends TrainCommandOptions {
  queuePrefix: string;
  microBatches: number;
  sparseGradients: boolean;
  float16Gradients: boolean;
  statusPort?: number;
  statusHost: string;
  warmStart?: string;
  heapGrowth: number;
}

export function registerStartCommand(program: Command): void {
  const command = addTrainOptions(
    program
      .command('start')
      .description(
        'Pre-train on distributed workers ("nx run trainer:worker", any number, any time): the coordinator samples each batch, ' +
          'workers compute its gradients, the coordinator averages them, steps the optimizer, validates and checkpoints. ' +
          'The run directory is the same as the train command writes. REDIS_URL names Redis (default redis://127.0.0.1:6379).',
      ),
  )
    .option('--queue-prefix <prefix>', 'prefix of the queue and keys in Redis; workers need the same one', DEFAULT_PREFIX)
    .option('--micro-batches <count>', 'micro-batches each worker cuts its shard into, summing their gradients (bounds its memory)', positiveInteger, 1)
    .option('--no-sparse-gradients', 'send embedding gradients as whole tables instead of only the rows a batch touched')
    .option('--float16-gradients', 'send dense gradients as float16: half the bytes, 11 significant bits (the losses then differ slightly from a single process)', false)
    .addOption(new Option('--status-port <port>', 'serve the run status as JSON on GET /status at this port (0 picks a free one)').argParser(portNumber))
    .option('--status-host <host>', 'interface of the status endpoint', '127.0.0.1')
    .option('--warm-start <run>', "start from this run's best weights, vocabulary rows mapped by value (new values start fresh); ignored with --resume");
  addDashboardOptions(addHeapGrowthOption(command))
    .addHelpText('after', 'With --dashboard, bull-board shows the gradient queue at /queues of the dashboard.')
    .action(async (options: StartCommandOptions) => {
      await runStartCommand(options);
    });
}

/** Runs a distributed pre-training and writes the run directory, metrics.json included. */
export async function runStartCommand(options: StartCommandOptions): Promise<void> {
  const redisUrl = redisUrlFromEnvironment();
  const policy = policyFromEnvironment();
  setHeapGrowth(options.heapGrowth);
  const runDir = resolve(options.out);
  const run = basename(runDir).replace(/[^A-Za-z0-9._-]/g, '_');
  const signalLogger = createLogger('coordinator', { run });
  let runner: StepRunner | null = null;

  const stop = (signal: NodeJS.Signals) => {
    signalLogger.warn({ signal, runDir }, 'signal received: stopping the run; continue it later with --resume');
    const closing = runner === null ? Promise.resolve() : runner.close();
    void closing.finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  const warmStart = options.warmStart === undefined ? undefined : resolve(options.warmStart);
  const dashboard = await startCommandDashboard(options, { loggerName: 'coordinator', queueBoard: true });
  try {
    await runTrainCommand(
      { ...options, dashboard: undefined },
      {
        loggerName: 'coordinator',
        createStepRunner: async (setup: TrainSetup) => {
          runner = await createDistributedRunner(setup, { ...options, redisUrl, policy, run, dashboard });
          return runner;
        },
        ...(warmStart === undefined ? {} : { initializeModel: async (model, setup) => void (await warmStartModel(model, setup.data.dir, warmStart, setup.logger)) }),
      },
    );
  } finally {
    await dashboard?.close();
  }
}

/** Connects to Redis, starts the gradient coordinator and, when asked, the status endpoint. */
async function createDistributedRunner(
  setup: TrainSetup,
  options: Omit<StartCommandOptions, 'dashboard'> & { redisUrl: string; policy: ReturnType<typeof policyFromEnvironment>; run: string; dashboard: RunDashboard | null },
): Promise<StepRunner> {
  const { logger, data, modelConfig, training } = setup;
  if (training.sampler !== RANDOM_PREFIX_SAMPLER) {
    throw new Error(
      `model "${setup.modelName}" trains with the ${training.sampler} sampler, but workers rebuild only ${RANDOM_PREFIX_SAMPLER} examples; ` +
        'train it with "nx run trainer:train"',
    );
  }
  const redis = await connectRedis(options.redisUrl, { policy: options.policy, logger, role: 'coordinator' });
  let coordinator: GradientCoordinator;
  try {
    coordinator = await GradientCoordinator.start({
      redis,
      prefix: options.queuePrefix,
      policy: options.policy,
      logger,
      run: options.run,
      data,
      description: { modelName: setup.modelName, modelConfig, features: [...training.features], tasks: Object.keys(training.taskWeights) },
      microBatches: options.microBatches,
      encoding: { sparseRows: options.sparseGradients, denseFloat16: options.float16Gradients },
    });
  } catch (error) {
    await closeRedis(redis);
    throw error;
  }

  const status =
    options.statusPort === undefined
      ? null
      : await startStatusServer({ port: options.statusPort, host: options.statusHost, runDir: setup.runDir, status: () => coordinator.status(), logger });
  options.dashboard?.attachCoordinator({ redis, prefix: options.queuePrefix, status: () => coordinator.status() });

  let closed: Promise<void> | null = null;
  return {
    step: coordinator.step,
    record: {
      distributed: {
        redis: redactRedisUrl(options.redisUrl),
        prefix: options.queuePrefix,
        session: coordinator.session,
        microBatches: options.microBatches,
        sparseGradients: options.sparseGradients,
        float16Gradients: options.float16Gradients,
      },
    },
    close: () => {
      closed ??= (async () => {
        await status?.close();
        // The dashboard reads through the coordinator's Redis client, so it lets go first.
        await options.dashboard?.detachCoordinator();
        await coordinator.close();
        await closeRedis(redis);
      })();
      return closed;
    },
  };
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return parsed;
}

function portNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new InvalidArgumentError(`expected a port number in [0, 65535], got "${value}"`);
  return parsed;
}
