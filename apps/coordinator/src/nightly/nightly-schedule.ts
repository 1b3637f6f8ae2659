import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '@mcm/common';
import { NIGHTLY_QUEUE } from '@mcm/queue';
import { readNightlyConfig, type NightlyConfig } from './nightly-config.ts';
import { runNightly, type NightlyOutcome, type NightlySteps } from './nightly-run.ts';

/** Id of the BullMQ job scheduler of the nightly pre-training. */
export const NIGHTLY_SCHEDULER_ID = 'nightly-pretraining';

/** The data of a nightly job: where its config lives, read again when the job runs. */
export interface NightlyJobData {
  configPath: string;
}

/**
 * A night's job may run for hours. The processor awaits child processes, so the event
 * loop stays free to renew the lock; five minutes covers the coordinator's busiest moments.
 */
const NIGHTLY_LOCK_MS = 5 * 60_000;

/**
 * Creates or replaces the job scheduler that adds one nightly job at each time of
 * `config.cron` in `config.timezone`. Returns the time of the next job.
 */
export async function upsertNightlySchedule(redis: Redis, prefix: string, config: NightlyConfig, configPath: string): Promise<Date | null> {
  const queue = new Queue<NightlyJobData>(NIGHTLY_QUEUE, { connection: redis, prefix });
  try {
    await queue.upsertJobScheduler(
      NIGHTLY_SCHEDULER_ID,
      { pattern: config.cron, tz: config.timezone },
      {
        name: 'nightly',
        data: { configPath },
        // A failed night is not retried: the next night ingests the newer logs anyway.
        opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
      },
    );
    const scheduler = await queue.getJobScheduler(NIGHTLY_SCHEDULER_ID);
    return scheduler?.next === undefined ? null : new Date(scheduler.next);
  } finally {
    await queue.close();
  }
}

/** Removes the nightly job scheduler; returns whether there was one. */
export async function removeNightlySchedule(redis: Redis, prefix: string): Promise<boolean> {
  const queue = new Queue<NightlyJobData>(NIGHTLY_QUEUE, { connection: redis, prefix });
  try {
    return await queue.removeJobScheduler(NIGHTLY_SCHEDULER_ID);
  } finally {
    await queue.close();
  }
}

/** Adds a nightly job that runs now, outside the schedule. */
export async function addNightlyJobNow(redis: Redis, prefix: string, configPath: string): Promise<string> {
  const queue = new Queue<NightlyJobData>(NIGHTLY_QUEUE, { connection: redis, prefix });
  try {
    const job = await queue.add('nightly', { configPath }, { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } });
    return job.id!;
  } finally {
    await queue.close();
  }
}

/** Returns the night's name, the local date and time in the config's zone: 20260105-0230. */
export function nightName(time: Date, timezone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(time)
      .map((part) => [part.type, part.value]),
  );
  return `${parts.year}${parts.month}${parts.day}-${parts.hour}${parts.minute}`;
}

/**
 * Starts the worker that runs the nightly jobs one at a time. Every job reads its config
 * again, so an edited config takes effect the next night. `close()` on the returned
 * worker waits for a running night to finish.
 */
export function startNightlyWorker(options: { redis: Redis; prefix: string; logger: Logger; steps: NightlySteps }): Worker<NightlyJobData, NightlyOutcome> {
  const { logger } = options;
  const worker = new Worker<NightlyJobData, NightlyOutcome>(
    NIGHTLY_QUEUE,
    async (job) => {
      const config = await readNightlyConfig(job.data.configPath);
      const night = nightName(new Date(), config.timezone);
      logger.info({ job: job.id, night, config: job.data.configPath }, 'nightly job started');
      return runNightly(config, night, options.steps, logger);
    },
    { connection: options.redis, prefix: options.prefix, concurrency: 1, lockDuration: NIGHTLY_LOCK_MS },
  );
  worker.on('failed', (job, error) => logger.error({ job: job?.id, error: error.message }, 'nightly job failed; the promoted model stays, and the next night runs as scheduled'));
  worker.on('error', (error) => logger.warn({ error: error.message }, 'nightly worker error'));
  return worker;
}
