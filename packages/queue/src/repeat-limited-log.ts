import type { Logger } from '@mcm/common';

/**
 * Returns a function that logs a recurring warning (a connection error on every
 * reconnect attempt) at most once per `intervalMs`. Each line carries the number of
 * repeats left out since the previous one.
 */
export function repeatLimitedWarning(logger: Logger, message: string, intervalMs = 5_000): (fields: Record<string, unknown>) => void {
  let lastLog = 0;
  let suppressed = 0;
  return (fields) => {
    const now = Date.now();
    if (now - lastLog < intervalMs) {
      suppressed++;
      return;
    }
    logger.warn({ ...fields, repeatsSinceLastLine: suppressed }, message);
    lastLog = now;
    suppressed = 0;
  };
}
