import { mkdir, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { REJECT_FILE } from './rejects.ts';

/**
 * Directory inside the output directory that a running ingest writes into. It sits
 * inside, not beside, the output directory so that the final renames stay on one file
 * system even when the output directory is a mount point or a symbolic link.
 */
const STAGING_DIRECTORY = '.ingest-staging';

/** Directory inside the staging directory where DuckDB spills. */
const SPILL_DIRECTORY = 'spill';

/** Spill directory of ingests before the staging directory existed; removed if a killed run left it. */
const LEGACY_SPILL_DIRECTORY = '.ingest-tmp';

/** Directory inside the output directory that keeps the reject file of the latest failed ingest. */
const FAILED_DIRECTORY = 'failed';

/** Directory inside the staging directory that the previous output is moved to before it is deleted. */
const REPLACED_DIRECTORY = '.replaced';

const MANIFEST_FILE = 'manifest.json';

/** Entries an ingest writes besides the manifest, which is moved last because its presence marks a complete output. */
const OUTPUT_ENTRIES = ['vocab', 'shards', REJECT_FILE] as const;

/** Paths of one ingest's output. */
export interface OutputPaths {
  /** The directory the caller asked for; it keeps the previous output until the new one is complete. */
  outDir: string;
  /** Staging directory that the new output is written into. */
  staging: string;
  /** Directory that DuckDB spills into beyond its memory limit. */
  spill: string;
  /** Path that the reject file of a failed ingest is kept at. */
  failedRejectFile: string;
}

/**
 * Creates an empty staging directory inside `outDir` (creating `outDir` if needed) and
 * returns the paths of the run. A staging directory left by a killed ingest is removed.
 */
export async function prepareOutput(outDir: string): Promise<OutputPaths> {
  const staging = join(outDir, STAGING_DIRECTORY);
  await mkdir(outDir, { recursive: true });
  await rm(staging, { recursive: true, force: true });
  await rm(join(outDir, LEGACY_SPILL_DIRECTORY), { recursive: true, force: true });
  await mkdir(staging);
  return { outDir, staging, spill: join(staging, SPILL_DIRECTORY), failedRejectFile: join(outDir, FAILED_DIRECTORY, REJECT_FILE) };
}

/**
 * Replaces the previous output in `outDir` with the complete output in the staging
 * directory, then removes the staging directory. Files in `outDir` that an ingest
 * does not write are left alone.
 */
export async function publishOutput(paths: OutputPaths): Promise<void> {
  const replaced = join(paths.staging, REPLACED_DIRECTORY);
  try {
    await mkdir(replaced);

    // The old manifest goes first, so that a crash between the renames leaves no
    // manifest over a mix of old and new files.
    await moveIfPresent(join(paths.outDir, MANIFEST_FILE), join(replaced, MANIFEST_FILE));
    for (const entry of OUTPUT_ENTRIES) {
      await moveIfPresent(join(paths.outDir, entry), join(replaced, entry));
      await moveIfPresent(join(paths.staging, entry), join(paths.outDir, entry));
    }
    await rename(join(paths.staging, MANIFEST_FILE), join(paths.outDir, MANIFEST_FILE));
  } catch (error) {
    throw new Error(
      `the ingest finished, but moving its output from ${paths.staging} into ${paths.outDir} failed ` +
        `(${(error as Error).message}); the previous output is in ${replaced}. Move the files you need out of it, ` +
        'because the next ingest into this directory deletes it, then run the ingest again',
      { cause: error },
    );
  }

  await rm(paths.staging, { recursive: true, force: true });
  await removeFailedRejects(paths);
}

/**
 * Removes the staging directory of a failed ingest, leaving the previous output as it
 * was. Keeps the run's reject file, if it wrote one, at `paths.failedRejectFile` and
 * returns whether it did.
 */
export async function discardOutput(paths: OutputPaths): Promise<boolean> {
  await removeFailedRejects(paths);
  await mkdir(join(paths.outDir, FAILED_DIRECTORY), { recursive: true });
  const keptRejectFile = await moveIfPresent(join(paths.staging, REJECT_FILE), paths.failedRejectFile);
  if (!keptRejectFile) await removeEmptyDirectory(join(paths.outDir, FAILED_DIRECTORY));

  await rm(paths.staging, { recursive: true, force: true });
  return keptRejectFile;
}

/** Removes the reject file of an earlier failed run, and its directory when nothing else is in it. */
async function removeFailedRejects(paths: OutputPaths): Promise<void> {
  await rm(paths.failedRejectFile, { force: true });
  await removeEmptyDirectory(join(paths.outDir, FAILED_DIRECTORY));
}

async function removeEmptyDirectory(path: string): Promise<void> {
  try {
    await rmdir(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
}

/** Renames `from` to `to` and returns true, or returns false when `from` does not exist. */
async function moveIfPresent(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
