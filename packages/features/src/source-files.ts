import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import fastGlob from 'fast-glob';
import type { DatasetConfig } from '@mcm/schema';

/** One input file of the ingest. */
export interface SourceFile {
  /** Position in the list of all files (events first, then catalog); rejects and logs refer to it. */
  index: number;
  /** Forward-slash path relative to the data root; the fingerprint and the reject file use it. */
  relativePath: string;
  absolutePath: string;
  /** Size in bytes. */
  size: number;
}

/** The files of every source of a config, in config order. */
export interface ResolvedSources {
  /** One list per entry of `config.events`, each sorted by relative path. */
  events: SourceFile[][];
  /** The catalog's files, or an empty list when the config has no catalog. */
  catalog: SourceFile[];
}

/**
 * Expands every source glob of `config` under `dataRoot`. A glob that matches no
 * file is an error naming the glob and the data root, because a silently empty
 * source would produce a dataset without those events.
 */
export async function resolveSourceFiles(config: DatasetConfig, dataRoot: string): Promise<ResolvedSources> {
  await assertDirectory(dataRoot);

  let nextIndex = 0;
  const expand = async (pattern: string, field: string): Promise<SourceFile[]> => {
    const matches = await fastGlob(pattern, { cwd: dataRoot, onlyFiles: true, followSymbolicLinks: true, dot: false });
    if (matches.length === 0) {
      throw new Error(
        `${field} "${pattern}" matches no file under the data root ${dataRoot}; ` +
          'check the path in the config, or point --data-root (or MCM_DATA_ROOT) at the directory that contains it',
      );
    }

    // Byte order of the relative paths, so the file order never depends on the file system.
    matches.sort(compareBytes);
    const files: SourceFile[] = [];
    for (const relativePath of matches) {
      const absolutePath = join(dataRoot, relativePath);
      const { size } = await stat(absolutePath);
      files.push({ index: nextIndex++, relativePath, absolutePath, size });
    }
    return files;
  };

  const events: SourceFile[][] = [];
  for (const [position, source] of config.events.entries()) {
    events.push(await expand(source.path, `events[${position}].path`));
  }
  const catalog = config.catalog === null ? [] : await expand(config.catalog.path, 'catalog.path');
  return { events, catalog };
}

function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

async function assertDirectory(dataRoot: string): Promise<void> {
  const isDirectory = await stat(dataRoot).then(
    (stats) => stats.isDirectory(),
    () => false,
  );
  if (!isDirectory) {
    throw new Error(`data root ${dataRoot} is not a directory; pass --data-root or set MCM_DATA_ROOT to the directory that contains the dataset folders`);
  }
}
