import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { canonicalConfigJson, type DatasetConfig } from '@mcm/schema';
import type { SourceFile } from './source-files.ts';

/**
 * Computes the dataset fingerprint: sha256 over the normalised config and, for each
 * source file in order, its relative path, size and the sha256 of its content. The
 * data root is left out, so the same files give the same fingerprint on any machine.
 */
export async function computeFingerprint(config: DatasetConfig, files: readonly SourceFile[]): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`config\n${canonicalConfigJson(config)}\n`);
  for (const file of files) {
    hash.update(`file\t${file.relativePath}\t${file.size}\t${await hashFileContent(file.absolutePath)}\n`);
  }
  return hash.digest('hex');
}

async function hashFileContent(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
