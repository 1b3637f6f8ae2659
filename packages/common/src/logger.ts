import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Creates the one structured logger every mcm process uses.
 *
 * JSON lines go to stderr so that stdout stays free for results (tables, JSON) that
 * scripts may pipe. On a terminal the lines are pretty-printed unless MCM_LOG_FORMAT=json.
 * The level comes from MCM_LOG_LEVEL (default `info`).
 */
export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  const level = process.env.MCM_LOG_LEVEL ?? 'info';
  const pretty = process.stderr.isTTY === true && process.env.MCM_LOG_FORMAT !== 'json';

  if (pretty) {
    return pino({
      name,
      level,
      base: bindings,
      transport: { target: 'pino-pretty', options: { destination: 2, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss' } },
    });
  }
  return pino({ name, level, base: bindings }, pino.destination(2));
}
