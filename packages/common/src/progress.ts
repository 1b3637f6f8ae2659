import cliProgress from 'cli-progress';
import type { Logger } from './logger.ts';

/** Progress of one long task: a bar on a terminal, a log line every few seconds otherwise. */
export interface Progress {
  /** Sets the absolute amount done and the values shown beside the bar. */
  update(done: number, fields?: Record<string, string | number>): void;
  /** Ends the bar and logs the final amount. */
  stop(): void;
}

/** Seconds between two plain log lines when stderr is not a terminal. */
const LOG_INTERVAL_MS = 5_000;

/**
 * Starts a progress report for `task`. `total` may be 0 when it is not known in advance.
 * `unit` names what is counted (rows, customers, steps) in logs and on the bar.
 */
export function startProgress(logger: Logger, task: string, total: number, unit: string): Progress {
  const start = Date.now();
  let lastFields: Record<string, string | number> = {};
  let lastDone = 0;

  if (process.stderr.isTTY === true && process.env.MCM_PROGRESS !== 'off') {
    const format =
      total > 0
        ? `${task} [{bar}] {percentage}% {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted} {extra}`
        : `${task} {value} ${unit} | {rate}/s {extra}`;
    const bar = new cliProgress.SingleBar(
      { format, stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: '0', extra: '' });
    return {
      update(done, fields = {}) {
        lastDone = done;
        lastFields = fields;
        const seconds = Math.max((Date.now() - start) / 1000, 1e-3);
        const extra = Object.entries(fields)
          .map(([key, value]) => `${key} ${value}`)
          .join(' ');
        bar.update(done, { rate: (done / seconds).toFixed(1), extra });
      },
      stop() {
        bar.stop();
        logger.info({ task, done: lastDone, unit, seconds: (Date.now() - start) / 1000, ...lastFields }, `${task} finished`);
      },
    };
  }

  let lastLog = start;
  return {
    update(done, fields = {}) {
      lastDone = done;
      lastFields = fields;
      const now = Date.now();
      if (now - lastLog >= LOG_INTERVAL_MS) {
        lastLog = now;
        const rate = done / Math.max((now - start) / 1000, 1e-3);
        logger.info({ task, done, total: total || undefined, unit, rate: Number(rate.toFixed(1)), ...fields }, `${task} progress`);
      }
    },
    stop() {
      logger.info({ task, done: lastDone, unit, seconds: (Date.now() - start) / 1000, ...lastFields }, `${task} finished`);
    },
  };
}
