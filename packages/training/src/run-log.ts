import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '@mcm/common';

/**
 * A JSON-lines file of records that carry a `step`, appended one line per record.
 * On resume, `truncateAfter` drops the lines of steps the checkpoint does not
 * contain, so that the file reads as if the run had never stopped.
 */
export class StepLog {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  append(record: { step: number } & Record<string, unknown>): void {
    appendFileSync(this.path, `${JSON.stringify(record)}\n`);
  }

  /** Keeps only the lines whose step is at most `step`. */
  async truncateAfter(step: number): Promise<void> {
    if (!existsSync(this.path)) return;
    const kept = readFileSync(this.path, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .filter((line) => (JSON.parse(line) as { step: number }).step <= step);
    await writeFileAtomic(this.path, kept.map((line) => `${line}\n`).join(''));
  }
}
