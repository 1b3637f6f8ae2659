import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';

/** Result of one read of a JSON-lines file. */
export interface TailRead<T> {
  /** The records of the lines completed since the last read, or of the whole file after a reset. */
  records: T[];
  /** True when the file was replaced or shrank (a resumed run rewrites it), so earlier records are void. */
  reset: boolean;
  /** Complete lines that were not valid JSON, skipped. */
  invalidLines: number;
}

/**
 * Follows a JSON-lines file that another process appends to. Each read returns the
 * lines completed since the previous one and keeps a trailing partial line for the
 * next. A missing file reads as empty.
 */
export class JsonLinesTail<T> {
  private offset = 0;
  private inode: number | null = null;
  private pending = '';
  private decoder = new StringDecoder('utf8');

  constructor(readonly path: string) {}

  async read(): Promise<TailRead<T>> {
    let file;
    try {
      file = await open(this.path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const reset = this.offset > 0;
      this.restart(null);
      return { records: [], reset, invalidLines: 0 };
    }

    try {
      const { size, ino } = await file.stat();
      const reset = (this.inode !== null && ino !== this.inode) || size < this.offset;
      if (reset) this.restart(ino);
      this.inode = ino;
      if (size === this.offset) return { records: [], reset, invalidLines: 0 };

      const buffer = Buffer.alloc(size - this.offset);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, this.offset);
      this.offset += bytesRead;
      const text = this.pending + this.decoder.write(buffer.subarray(0, bytesRead));
      const lines = text.split('\n');
      this.pending = lines.pop() ?? '';

      const records: T[] = [];
      let invalidLines = 0;
      for (const line of lines) {
        if (line.trim() === '') continue;
        try {
          records.push(JSON.parse(line) as T);
        } catch {
          invalidLines++;
        }
      }
      return { records, reset, invalidLines };
    } finally {
      await file.close();
    }
  }

  private restart(inode: number | null): void {
    this.offset = 0;
    this.inode = inode;
    this.pending = '';
    this.decoder = new StringDecoder('utf8');
  }
}
