import type { Logger } from '@mcm/common';
import { GradientWorker, type GradientWorkerOptions } from './gradient-worker.ts';
import type { QueuePolicy } from './policy.ts';
import { closeRedis, connectRedis } from './redis.ts';

export interface WorkerProcessOptions extends Omit<GradientWorkerOptions, 'redis'> {
  redisUrl: string;
  policy: QueuePolicy;
  logger: Logger;
}

/**
 * Runs a gradient worker until SIGTERM or SIGINT: connects to Redis (failing with an
 * error that names the URL when it is unreachable), starts the worker, and on the
 * signal hands an unfinished job back, removes the heartbeat and disconnects.
 * Resolves once the worker has stopped.
 */
export async function runWorkerProcess(options: WorkerProcessOptions): Promise<GradientWorker> {
  const { redisUrl, ...workerOptions } = options;
  const redis = await connectRedis(redisUrl, { policy: options.policy, logger: options.logger, role: 'worker' });
  let worker: GradientWorker;
  try {
    worker = await GradientWorker.start({ ...workerOptions, redis });
  } catch (error) {
    await closeRedis(redis);
    throw error;
  }

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      options.logger.info({ worker: worker.id, signal }, 'signal received; stopping the worker');
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await worker.close();
  await closeRedis(redis);
  return worker;
}
