import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest, readVocabulary } from '../src/manifest.ts';
import { encodeShard, readShard } from '../src/shard-format.ts';

/** Creates an ingest output directory with empty vocab/ and shards/ folders. */
async function outputDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mcm-schema-'));
  await mkdir(join(dir, 'vocab'));
  await mkdir(join(dir, 'shards'));
  return dir;
}

const ADVICE = 're-run the ingest ("nx run pipeline:ingest --config <config> --out';

describe('ingest output errors', () => {
  it('names a manifest that is not JSON', async () => {
    const dir = await outputDirectory();
    const path = join(dir, 'manifest.json');
    await writeFile(path, '{"formatVersion": 1, oops}');

    const read = readManifest(dir);

    await expect(read).rejects.toThrow(`${path} is not valid JSON (`);
    await expect(read).rejects.toThrow(`so the file is damaged; ${ADVICE} ${dir}")`);
  });

  it('points a missing manifest at the ingest', async () => {
    const dir = await outputDirectory();

    await expect(readManifest(dir)).rejects.toThrow(`${join(dir, 'manifest.json')} not found: pass the output directory of "nx run pipeline:ingest"`);
  });

  it('names a missing shard and its directory', async () => {
    const dir = await outputDirectory();
    const path = join(dir, 'shards', 'shard-00001.bin');

    await expect(readShard(path)).rejects.toThrow(`${path} not found, so the ingest output is incomplete; ${ADVICE} ${dir}")`);
  });

  it('names a shard with a truncated header', async () => {
    const dir = await outputDirectory();
    const path = join(dir, 'shards', 'shard-00000.bin');
    const bytes = encodeShard({
      customerIds: ['c1'],
      customerOffsets: Int32Array.from([0, 1]),
      time: Float64Array.from([0]),
      split: Uint8Array.from([0]),
      features: { item: { kind: 'single', values: Int32Array.from([2]) } },
    });
    await writeFile(path, bytes.subarray(0, 20));

    await expect(readShard(path)).rejects.toThrow(`${path}: the shard header of`);
    await expect(readShard(path)).rejects.toThrow('runs past the end of the file, so the shard is truncated; re-run the ingest');
  });

  it('names a vocabulary that is missing or not JSON', async () => {
    const dir = await outputDirectory();
    const path = join(dir, 'vocab', 'brand.json');

    await expect(readVocabulary(dir, 'brand')).rejects.toThrow(`${path} not found, so the ingest output is incomplete; ${ADVICE}`);
    await writeFile(path, '["<pad>", "<oov>",');
    await expect(readVocabulary(dir, 'brand')).rejects.toThrow(`${path} is not valid JSON (`);
  });
});
