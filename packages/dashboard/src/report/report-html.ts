import { basename } from 'node:path';
import { loadPageAssets } from '../page-assets.ts';
import { downsampleSteps, MAX_REPORT_POINTS } from './downsample.ts';
import { escapeHtml, formatSeconds, inlineScript, jsonForScript } from './html.ts';
import { allMetricsTableHtml, metricsTableHtml } from './metrics-table.ts';
import type { RunReportInput } from './run-report.ts';

/**
 * Builds the self-contained report of a finished run: one HTML file with the charting
 * library, the styles, the scripts and the data inlined, so that it opens from disk
 * without a server or a network.
 */
export async function buildRunReport(input: RunReportInput, generatedAt = new Date()): Promise<string> {
  const assets = await loadPageAssets();
  const asset = (name: Parameters<typeof assets.get>[0]) => assets.get(name)!.body;
  const { config, metrics } = input;
  const run = basename(input.runDir);
  const steps = downsampleSteps(input.steps);
  const tasks = Object.keys(metrics.tasks);
  const chartData = { description: { run, tasks }, steps, validation: input.validation };
  const averaged = input.steps.length > steps.length ? ` The ${input.steps.length} steps are averaged into ${steps.length} points (at most ${MAX_REPORT_POINTS}).` : '';

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(run)} - mcm run report</title>
<style>${asset('uPlot.min.css')}</style>
<style>${asset('style.css')}</style>
</head>
<body>
<header>
  <h1>${escapeHtml(run)}</h1>
  <span class="meta">${escapeHtml(`${metrics.model} on ${metrics.dataset}, ${metrics.split} split, backend ${metrics.backend}`)}</span>
  <span class="meta">report written ${escapeHtml(generatedAt.toISOString())}</span>
</header>
<main>
<section>
  <h2>Run</h2>
  ${keyValueTable('run-summary', runSummary(input))}
</section>
<section>
  <h2>Metrics against the baselines</h2>
  <p class="meta">As "nx run trainer:evaluate" prints them: ${escapeHtml(`${metrics.split} split, ${metrics.evaluation?.examples ?? '?'} examples, targets: ${metrics.evalTargets ?? '?'}${metrics.excludeSeen === true ? ', seen values excluded' : ''}`)}.</p>
  ${metricsTableHtml(metrics)}
  <details><summary>Every metric of the model and the baselines</summary>${allMetricsTableHtml(metrics)}</details>
</section>
<section>
  <h2>Training curves</h2>
  <p class="meta">Loss per task at each optimizer step, NDCG@10 of each periodic validation (dashed: the mean over tasks), and throughput.${escapeHtml(averaged)}</p>
  <div class="charts">
    <div class="chart" id="chart-loss"></div>
    <div class="chart" id="chart-ndcg"></div>
    <div class="chart" id="chart-throughput"></div>
  </div>
</section>
<section>
  <h2>Data</h2>
  ${manifestSection(input)}
</section>
<section>
  <h2>Configuration</h2>
  <p class="meta">config.json of the run, written when it started.</p>
  <pre id="config">${escapeHtml(JSON.stringify(config, null, 2))}</pre>
</section>
</main>
<script type="application/json" id="report-data">${jsonForScript(chartData)}</script>
<script>${inlineScript(asset('uPlot.iife.min.js'))}</script>
<script>${inlineScript(asset('charts.js'))}</script>
<script>${inlineScript(asset('report.js'))}</script>
</body>
</html>
`;
}

/** Returns the rows of the run summary: model, backend, budgets, steps, timings. */
function runSummary(input: RunReportInput): Array<[string, string]> {
  const { config, metrics } = input;
  const training = metrics.training ?? {};
  const text = (value: unknown) => (value === undefined || value === null ? '-' : String(value));
  const seconds = (value: unknown) => formatSeconds(typeof value === 'number' ? value : undefined);
  const bestNdcg = typeof training.bestValidationNdcg === 'number' ? training.bestValidationNdcg.toFixed(4) : '-';
  return [
    ['model', config.model],
    ['dataset', config.dataset],
    ['backend', metrics.backend],
    ['started', config.createdAt],
    ['evaluated', text(metrics.createdAt)],
    ['time budget', training.budgetMinutes === undefined ? '-' : `${text(training.budgetMinutes)} min`],
    ['step budget', text(training.maxSteps ?? 'none')],
    ['steps', text(training.steps)],
    ['stopped by', text(training.stopReason)],
    ['sequences trained', text(training.sequences)],
    ['best validation NDCG@10 (mean)', training.bestStep === undefined ? bestNdcg : `${bestNdcg} at step ${text(training.bestStep)}`],
    ['evaluated checkpoint', metrics.checkpoint === null ? 'none (baseline)' : `${metrics.checkpoint.kind}, step ${metrics.checkpoint.step}`],
    ['wall time of training', seconds(training.wallSeconds)],
    ['wall time of the command', seconds(training.commandSeconds)],
    ['wall time of the final evaluation', seconds(metrics.evaluation?.seconds)],
  ];
}

/** Returns the data section: the manifest's counts and features, or where it was not found. */
function manifestSection(input: RunReportInput): string {
  const { manifest, config } = input;
  if (manifest === null) {
    return `<p class="stale">The manifest was not found at ${escapeHtml(input.manifestPath)}; pass --data with the ingest output the run trained on (fingerprint ${escapeHtml(config.manifestFingerprint)}).</p>`;
  }
  const stale = manifest.fingerprint === config.manifestFingerprint ? '' : `<p class="stale">This manifest's fingerprint ${escapeHtml(manifest.fingerprint)} differs from the run's ${escapeHtml(config.manifestFingerprint)}: the data changed after training.</p>`;
  const rows: Array<[string, string]> = [
    ['manifest', input.manifestPath],
    ['dataset', manifest.dataset],
    ['customers', String(manifest.customers)],
    ['events', String(manifest.events)],
    ['rows read', String(manifest.rowsRead)],
    ['rejected rows', String(manifest.rejectedRows)],
    ['duplicate rows', String(manifest.duplicateRows)],
    ['events per split (train / validation / test)', `${manifest.splitEvents.train} / ${manifest.splitEvents.validation} / ${manifest.splitEvents.test}`],
    ['longest history (maxLength)', String(manifest.maxLength)],
    ['shards', String(manifest.shards.length)],
    ['fingerprint', manifest.fingerprint],
  ];
  const features = manifest.features
    .map((feature) => `<tr><th scope="row">${escapeHtml(feature.name)}</th><td>${escapeHtml(feature.kind)}</td><td class="number">${feature.vocabularySize}</td><td>${feature.task ? 'yes' : 'no'}</td></tr>`)
    .join('');
  return `${stale}${keyValueTable('manifest', rows)}
  <table id="features"><thead><tr><th>feature</th><th>kind</th><th class="number">vocabulary</th><th>task</th></tr></thead><tbody>${features}</tbody></table>
  <details><summary>manifest.json</summary><pre>${escapeHtml(JSON.stringify(manifest, null, 2))}</pre></details>`;
}

function keyValueTable(id: string, rows: Array<[string, string]>): string {
  return `<table class="kv" id="${id}"><tbody>${rows.map(([key, value]) => `<tr><th scope="row">${escapeHtml(key)}</th><td>${escapeHtml(value)}</td></tr>`).join('')}</tbody></table>`;
}
