import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Temporary directories of one test file, all removed by `removeAll` (call it in afterAll). */
export function temporaryDirectories(): { create(prefix: string): Promise<string>; removeAll(): Promise<void> } {
  const directories: string[] = [];
  return {
    async create(prefix) {
      const dir = await mkdtemp(join(tmpdir(), prefix));
      directories.push(dir);
      return dir;
    },
    async removeAll() {
      for (const dir of directories.splice(0)) await rm(dir, { recursive: true, force: true });
    },
  };
}
