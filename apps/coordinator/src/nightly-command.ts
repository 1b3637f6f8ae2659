import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createLogger } from '@mcm/common';
import { initBackend } from '@mcm/model';
import { closeRedis, connectRedis, DEFAULT_PREFIX, policyFromEnvironment, redisUrlFromEnvironment } from '@mcm/queue';
import { readNightlyConfig } from './nightly/nightly-config.ts';
import { childProcessSteps } from './nightly/nightly-run.ts';
import { addNightlyJobNow, removeNightlySchedule, startNightlyWorker, upsertNightlySchedule } from './nightly/nightly-schedule.ts';

export function registerNightlyCommands(program: Command): void {
  program
    .command('schedule')
    .description('Create or replace the BullMQ job scheduler of the nightly pre-training (cron and time zone from the config).')
    .requiredOption('--config <file>', 'nightly config, e.g. infra/schedule/nightly.json')
    .option('--queue-prefix <prefix>', 'prefix of the nightly queue in Redis', DEFAULT_PREFIX)
    .option('--remove', 'remove the scheduler instead', false)
    .action(async (options: { config: string; queuePrefix: string; remove: boolean }) => {
      const logger = createLogger('nightly');
      const redis = await connectRedis(redisUrlFromEnvironment(), { policy: policyFromEnvironment(), logger, role: 'scheduler' });
      try {
        if (options.remove) {
          const removed = await removeNightlySchedule(redis, options.queuePrefix);
          logger.info({ removed }, removed ? 'nightly schedule removed' : 'there was no nightly schedule to remove');
          return;
        }
        const configPath = resolve(options.config);
        const config = await readNightlyConfig(configPath);
        const next = await upsertNightlySchedule(redis, options.queuePrefix, config, configPath);
        logger.info({ cron: config.cron, timezone: config.timezone, next: next?.toISOString() ?? null }, 'nightly schedule set');
      } finally {
        await closeRedis(redis);
      }
    });

  program
    .command('nightly')
    .description(
      'Run the nightly jobs until SIGTERM: ingest the new logs, pre-train warm-started from the promoted model on the distributed workers, ' +
        'and promote the run unless its validation NDCG@10 fell by more than the tolerance.',
    )
    .option('--queue-prefix <prefix>', 'prefix of the nightly queue in Redis', DEFAULT_PREFIX)
    .option('--now <config>', 'also add one job with this nightly config that runs at once')
    .action(async (options: { queuePrefix: string; now?: string }) => {
      const logger = createLogger('nightly');
      await initBackend();
      const redis = await connectRedis(redisUrlFromEnvironment(), { policy: policyFromEnvironment(), logger, role: 'nightly' });
      if (options.now !== undefined) {
        const configPath = resolve(options.now);
        await readNightlyConfig(configPath);
        const id = await addNightlyJobNow(redis, options.queuePrefix, configPath);
        logger.info({ job: id, config: configPath }, 'nightly job added to run now');
      }
      const worker = startNightlyWorker({ redis, prefix: options.queuePrefix, logger, steps: childProcessSteps(logger) });
      logger.info({ prefix: options.queuePrefix }, 'nightly worker started');
      await new Promise<void>((resolveSignal) => {
        process.once('SIGTERM', () => resolveSignal());
        process.once('SIGINT', () => resolveSignal());
      });
      logger.info('stopping the nightly worker; a running night finishes first');
      await worker.close();
      await closeRedis(redis);
    });
}
