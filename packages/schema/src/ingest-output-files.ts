import { readFile } from 'node:fs/promises';

/** Returns the fix that errors about a missing or damaged file of the ingest output in `dir` end with. */
export function reingestAdvice(dir: string): string {
  return `re-run the ingest ("nx run pipeline:ingest --config <config> --out ${dir}") to write the output again`;
}

/**
 * Reads a file that the ingest output in `dir` lists. A missing file means the output
 * is incomplete (copied in part, or changed by hand), so the error states that and
 * names the fix.
 */
export async function readIngestFile(path: string, dir: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'not found, so the ingest output is incomplete' : `could not be read (${code ?? String(error)})`;
    throw new Error(`${path} ${reason}; ${reingestAdvice(dir)}`, { cause: error });
  }
}

/** Parses the JSON text of a file of the ingest output in `dir`; a syntax error names the file and the fix. */
export function parseIngestJson(text: string, path: string, dir: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not valid JSON (${(error as Error).message}), so the file is damaged; ${reingestAdvice(dir)}`, { cause: error });
  }
}
