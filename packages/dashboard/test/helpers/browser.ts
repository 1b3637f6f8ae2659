import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

/** Debian's chromium (apt-get install chromium); the tests never download a browser. */
export const CHROMIUM = process.env.MCM_CHROMIUM ?? '/usr/bin/chromium';

/** Flags of a headless chromium that talks to nothing but the pages the test opens. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Set to 1 to rewrite the screenshots under docs/img; left unset, the tests write them to the temporary directory only. */
export const UPDATE_SCREENSHOTS = process.env.MCM_UPDATE_SCREENSHOTS === '1';

/** A headless chromium with a fresh profile directory, removed by `close`. */
export interface HeadlessBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Starts Debian's chromium with a new --user-data-dir and a 1280x900 window. */
export async function launchChromium(): Promise<HeadlessBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'mcm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export type { Browser };

/** A uPlot chart as the page scripts expose it. */
export interface ChartInPage {
  series: Array<{ label: string }>;
  data: Array<Array<number | null>>;
}

/**
 * The objects the dashboard and report scripts put on `window`. Tests read them in
 * `page.evaluate` as `(globalThis as unknown as PageGlobals)`, because the type-check
 * has no DOM library.
 */
export interface PageGlobals {
  mcmDashboard: {
    charts: Record<string, ChartInPage>;
    steps: unknown[];
    validation: unknown[];
    state: { coordinator: { workers: Array<{ id: string }> } | null } | null;
  };
  mcmReport: { charts: Record<string, ChartInPage> } | undefined;
}
