/**
 * Runs a command-line program's `main` and turns a failure into one line on stderr and
 * exit code 1. A stack trace would bury the message, and an uncaught error from inside
 * the wasm backend prints its whole minified source; MCM_LOG_LEVEL=debug shows the stack.
 */
export async function runMain(programName: string, main: () => Promise<unknown>): Promise<void> {
  try {
    await main();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`${programName}: ${message}`);
    if (process.env.MCM_LOG_LEVEL === 'debug' && error instanceof Error) console.error(error.stack);

    // Exit at once: open Redis connections or timers must not keep a failed command alive.
    process.exit(1);
  }
}
