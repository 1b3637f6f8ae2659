import { PRIMARY_K } from '@mcm/training';
import { escapeHtml, formatMetric } from './html.ts';

/** The parts of metrics.json the report reads (written by trainer:train, coordinator:start and trainer:evaluate). */
export interface ReportMetrics {
  model: string;
  dataset: string;
  backend: string;
  split: string;
  evalTargets?: string;
  excludeSeen?: boolean;
  ks?: number[];
  checkpoint: { kind: string; step: number } | null;
  evaluation?: { examples: number; customers: number; seconds: number };
  /** Task -> metric name (e.g. "ndcg@10") -> value. */
  tasks: Record<string, Record<string, number>>;
  /** Baseline name -> task -> metric name -> value. */
  baselines: Record<string, Record<string, Record<string, number>>>;
  training: Record<string, unknown> | null;
  createdAt?: string;
}

/**
 * Renders the table that trainer:evaluate prints, as HTML: per task, NDCG@10 and
 * Recall@10 of the model beside the popularity baseline, the gain in NDCG@10 over
 * popularity, and the last-value baseline's NDCG@10.
 */
export function metricsTableHtml(metrics: ReportMetrics, k = PRIMARY_K): string {
  const popularity = metrics.baselines.popularity ?? {};
  const lastValue = metrics.baselines['last-value'] ?? {};
  const header = ['task', 'examples', `NDCG@${k} ${metrics.model}`, `NDCG@${k} popularity`, 'NDCG gain', `Recall@${k} ${metrics.model}`, `Recall@${k} popularity`, `NDCG@${k} last-value`];

  const rows = Object.entries(metrics.tasks).map(([task, values]) => {
    const baseline = popularity[task];
    const ndcg = values[`ndcg@${k}`];
    const baselineNdcg = baseline?.[`ndcg@${k}`];
    const gain = ndcg !== undefined && baselineNdcg !== undefined && baselineNdcg > 0 ? `${(ndcg / baselineNdcg).toFixed(2)}x` : '-';
    const cells = [
      String(values.examples ?? 0),
      formatMetric(ndcg),
      formatMetric(baselineNdcg),
      gain,
      formatMetric(values[`recall@${k}`]),
      formatMetric(baseline?.[`recall@${k}`]),
      formatMetric(lastValue[task]?.[`ndcg@${k}`]),
    ];
    return `<tr data-task="${escapeHtml(task)}"><th scope="row">${escapeHtml(task)}</th>${cells.map((cell) => `<td class="number">${escapeHtml(cell)}</td>`).join('')}</tr>`;
  });

  const head = header.map((title, column) => `<th${column === 0 ? '' : ' class="number"'}>${escapeHtml(title)}</th>`).join('');
  return `<table id="metrics"><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Renders every metric of the model and the baselines, one row per task and scorer. */
export function allMetricsTableHtml(metrics: ReportMetrics): string {
  const scorers: Array<[string, Record<string, Record<string, number>>]> = [[metrics.model, metrics.tasks], ...Object.entries(metrics.baselines).filter(([name]) => name !== metrics.model)];
  const names = [...new Set(Object.values(metrics.tasks).flatMap((values) => Object.keys(values)))].filter((name) => name !== 'examples').sort(compareMetricNames);

  const rows: string[] = [];
  for (const task of Object.keys(metrics.tasks)) {
    for (const [scorer, tasks] of scorers) {
      const values = tasks[task] ?? {};
      rows.push(`<tr><th scope="row">${escapeHtml(task)}</th><td>${escapeHtml(scorer)}</td>${names.map((name) => `<td class="number">${formatMetric(values[name])}</td>`).join('')}</tr>`);
    }
  }
  const head = ['task', 'scorer', ...names].map((title, column) => `<th${column < 2 ? '' : ' class="number"'}>${escapeHtml(title)}</th>`).join('');
  return `<table id="all-metrics"><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Orders "ndcg@10" before "ndcg@20", and metric families alphabetically. */
function compareMetricNames(a: string, b: string): number {
  const [familyA = '', kA = '0'] = a.split('@');
  const [familyB = '', kB = '0'] = b.split('@');
  return familyA === familyB ? Number(kA) - Number(kB) : familyA.localeCompare(familyB);
}
