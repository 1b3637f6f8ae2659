import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** A CLI started in a child process, with the JSON log records it wrote to stderr. */
export interface CliProcess {
  child: ChildProcess;
  records: Array<Record<string, unknown>>;
  /** Resolves with the exit code (null when a signal ended it). */
  exit: Promise<number | null>;
  /** Waits for the first log record whose message is `message`. */
  waitForRecord(message: string, timeoutMs: number): Promise<Record<string, unknown>>;
  /** Kills the process with SIGKILL when it still runs. */
  kill(): Promise<void>;
}

/** Starts `node --import tsx <script> ...args` with JSON logs and no progress bars. */
export function startCli(script: string, args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { ...process.env, MCM_LOG_FORMAT: 'json', MCM_LOG_LEVEL: 'info', MCM_PROGRESS: 'off', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const records: Array<Record<string, unknown>> = [];
  let pending = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.startsWith('{')) records.push(JSON.parse(line) as Record<string, unknown>);
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  return {
    child,
    records,
    exit,
    waitForRecord: async (message, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const record = records.find((candidate) => candidate.msg === message);
        if (record !== undefined) return record;
        if (child.exitCode !== null) throw new Error(`the CLI exited with code ${child.exitCode} before logging "${message}"; last records: ${JSON.stringify(records.slice(-3))}`);
        await sleep(50);
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for the log record "${message}"`);
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exit;
      }
    },
  };
}
