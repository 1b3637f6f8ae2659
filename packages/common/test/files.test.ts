import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic, writeJsonAtomic } from '../src/files.ts';

describe('writeFileAtomic', () => {
  it('creates parent folders and leaves no temporary file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcm-files-'));
    const path = join(dir, 'a', 'b', 'out.bin');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...(await readFile(path))]).toEqual([1, 2, 3]);
    expect(await readdir(join(dir, 'a', 'b'))).toEqual(['out.bin']);
  });

  it('replaces an existing file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcm-files-'));
    const path = join(dir, 'value.json');
    await writeJsonAtomic(path, { step: 1 });
    await writeJsonAtomic(path, { step: 2 });
    expect(await readFile(path, 'utf8')).toBe('{\n  "step": 2\n}\n');
  });
});
