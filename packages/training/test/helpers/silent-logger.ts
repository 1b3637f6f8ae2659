import { createLogger, type Logger } from '@mcm/common';

/** Creates a logger that writes nothing, so that test output shows only test results. */
export function silentLogger(): Logger {
  const previous = process.env.MCM_LOG_LEVEL;
  process.env.MCM_LOG_LEVEL = 'silent';
  try {
    return createLogger('test');
  } finally {
    if (previous === undefined) delete process.env.MCM_LOG_LEVEL;
    else process.env.MCM_LOG_LEVEL = previous;
  }
}
