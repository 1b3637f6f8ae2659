import type { Logger } from '@mcm/common';

/**
 * Logs a recurring warning (a connection error on every reconnect attempt) at most once
 * per interval, with the number of repeats left out since the previous line.
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
