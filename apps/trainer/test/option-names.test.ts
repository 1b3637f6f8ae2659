import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const APPS = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * One-word options of `nx run` in nx 24. nx takes an option named like one of them, also
 * with a suffix (`--batch-size`, `--exclude-seen`, `--verbose-log`), for itself and never
 * forwards it to the command, without a word of warning. Checked with
 * `npx nx run trainer:report --batch-size 5 --run x`, which runs the command without it.
 */
const NX_RUN_WORDS = ['agents', 'all', 'batch', 'cloud', 'configuration', 'dte', 'exclude', 'graph', 'parallel', 'prod', 'project', 'projects', 'runner', 'target', 'targets', 'tui', 'verbose', 'version'];

/** Returns every long option name declared with `.option(`, `.requiredOption(` or `new Option(` in the apps' sources. */
async function declaredOptions(): Promise<Array<{ file: string; name: string }>> {
  const found: Array<{ file: string; name: string }> = [];
  for (const app of await readdir(APPS)) {
    const sources = join(APPS, app, 'src');
    const files = await readdir(sources, { recursive: true }).catch(() => [] as string[]);
    for (const file of files.filter((name) => name.endsWith('.ts'))) {
      const text = await readFile(join(sources, file), 'utf8');
      for (const match of text.matchAll(/(?:\.option|\.requiredOption|new Option)\(\s*'--(?:no-)?([a-z0-9-]+)/g)) found.push({ file: `${app}/src/${file}`, name: match[1]! });
    }
  }
  return found;
}

describe('command-line option names', () => {
  test('every app declares options', async () => {
    const options = await declaredOptions();
    // A broken pattern would find nothing and let the next test pass by default.
    expect(options.map((option) => option.name)).toEqual(expect.arrayContaining(['customers-per-batch', 'filter-seen', 'heap-growth', 'data', 'out']));
  });

  test('none is taken by nx run', async () => {
    const claimedByNx = (await declaredOptions()).filter(({ name }) => NX_RUN_WORDS.some((word) => name === word || name.startsWith(`${word}-`)));
    expect(claimedByNx).toEqual([]);
  });
});
