import { inspect } from 'node:util';

/**
 * Error classes that JavaScript raises for a bug in the program: a property of
 * undefined, an undefined name, an invalid array length. mcm reports invalid input
 * with a plain Error whose message names the value and the fix.
 */
const BUG_ERRORS = [TypeError, ReferenceError, RangeError] as const;

/**
 * Runs a command-line program's `main` and turns a failure into `<program>: <message>`
 * on stderr and exit code 1 (see describeFailure).
 */
export async function runMain(programName: string, main: () => Promise<unknown>): Promise<void> {
  try {
    await main();
  } catch (error) {
    console.error(describeFailure(programName, error, process.env.MCM_LOG_LEVEL === 'debug'));

    // Exit at once: open Redis connections or timers must not keep a failed command alive.
    process.exit(1);
  }
}

/**
 * Returns the text that a failed command prints. An expected error, such as invalid
 * input, gives one line `<program>: <message>`, because a stack trace would bury the
 * message. (An uncaught error from inside the wasm backend even prints its whole
 * minified source.) The stack, with any cause, follows that line for an error that
 * points at a bug (BUG_ERRORS) and, with `debug`, for every error.
 */
export function describeFailure(programName: string, error: unknown, debug: boolean): string {
  const message = error instanceof Error ? error.message : String(error);
  const line = `${programName}: ${message}`;

  const isBug = BUG_ERRORS.some((bugClass) => error instanceof bugClass);
  if (!(error instanceof Error) || (!debug && !isBug)) return line;
  return `${line}\n${inspect(error, { depth: 4 })}`;
}
