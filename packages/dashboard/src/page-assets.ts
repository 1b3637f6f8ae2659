import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ASSETS = fileURLToPath(new URL('../assets/', import.meta.url));

/** A file the dashboard page or the report uses, with its content type. */
export interface PageAsset {
  contentType: string;
  body: string;
}

/**
 * The files of the dashboard page and the report: the charting library (uPlot, from
 * npm) and the mcm scripts and styles under packages/dashboard/assets.
 */
export const PAGE_ASSETS = {
  'uPlot.iife.min.js': { path: () => require.resolve('uplot/dist/uPlot.iife.min.js'), contentType: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { path: () => require.resolve('uplot/dist/uPlot.min.css'), contentType: 'text/css; charset=utf-8' },
  'charts.js': { path: () => `${ASSETS}charts.js`, contentType: 'text/javascript; charset=utf-8' },
  'dashboard.js': { path: () => `${ASSETS}dashboard.js`, contentType: 'text/javascript; charset=utf-8' },
  'report.js': { path: () => `${ASSETS}report.js`, contentType: 'text/javascript; charset=utf-8' },
  'style.css': { path: () => `${ASSETS}style.css`, contentType: 'text/css; charset=utf-8' },
  'dashboard.html': { path: () => `${ASSETS}dashboard.html`, contentType: 'text/html; charset=utf-8' },
} as const;

export type PageAssetName = keyof typeof PAGE_ASSETS;

/** Reads every page asset into memory. */
export async function loadPageAssets(): Promise<Map<PageAssetName, PageAsset>> {
  const assets = new Map<PageAssetName, PageAsset>();
  for (const [name, asset] of Object.entries(PAGE_ASSETS) as Array<[PageAssetName, (typeof PAGE_ASSETS)[PageAssetName]]>) {
    assets.set(name, { contentType: asset.contentType, body: await readFile(asset.path(), 'utf8') });
  }
  return assets;
}
