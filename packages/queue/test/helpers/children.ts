import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QueuePolicy } from '../../src/policy.ts';

const WORKER_SCRIPT = fileURLToPath(new URL('./worker-child.ts', import.meta.url));

/** A gradient worker running in a child process, with its log records. */
export class WorkerChild {
  readonly records: Array<Record<string, unknown> & { msg: string }> = [];
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly id: string,
    readonly child: ChildProcess,
  ) {
    let pending = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        this.records.push(JSON.parse(line));
      }
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Starts a worker process and waits until it logs that it started. */
  static async start(options: { id: string; prefix: string; redisUrl: string; policy: Partial<QueuePolicy>; delayMs: number }): Promise<WorkerChild> {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT], {
      env: {
        ...process.env,
        REDIS_URL: options.redisUrl,
        MCM_TEST_PREFIX: options.prefix,
        MCM_TEST_WORKER_ID: options.id,
        MCM_TEST_POLICY: JSON.stringify(options.policy),
        MCM_TEST_DELAY_MS: String(options.delayMs),
        MCM_LOG_LEVEL: 'debug',
        MCM_LOG_FORMAT: 'json',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const worker = new WorkerChild(options.id, child);
    await worker.waitForLog('worker started', 60_000);
    return worker;
  }

  /** Waits until a record with message `message` appears. */
  async waitForLog(message: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const record = this.records.find((entry) => entry.msg === message);
      if (record !== undefined) return record;
      if (this.child.exitCode !== null) throw new Error(`worker ${this.id} exited with code ${this.child.exitCode} before logging "${message}"`);
      await sleep(20);
    }
    throw new Error(`worker ${this.id} did not log "${message}" within ${timeoutMs} ms`);
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Waits for the process to exit and returns its exit code (null after a signal). */
  exit(): Promise<number | null> {
    return this.exited;
  }

  /** Kills the process if it still runs; for test clean-up. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
