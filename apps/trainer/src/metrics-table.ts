import type { TaskMetrics } from '@mcm/training';

/** The parts of metrics.json the table shows. */
export interface MetricsSummary {
  model: string;
  dataset: string;
  split: string;
  tasks: Record<string, TaskMetrics>;
  baselines: Record<string, Record<string, TaskMetrics>>;
  /** Cut-offs metrics.json holds; the table shows one of them. */
  ks?: number[];
  /** Whether each customer's already-seen values were left out of the candidates. */
  excludeSeen?: boolean;
}

/**
 * Formats per-task NDCG@10 and Recall@10 of the model beside the popularity baseline as
 * a Markdown table, with the model's gain over popularity in NDCG@10 and the last-value
 * baseline's NDCG@10 (a customer repeating their last value) for comparison. When the
 * model is popularity itself, its own columns stand alone. Other cut-offs in `ks` are
 * named in a line under the table.
 */
export function formatMetricsTable(summary: MetricsSummary, k = 10): string {
  const popularity = summary.baselines.popularity ?? {};
  const lastValue = summary.baselines['last-value'] ?? {};
  const besidePopularity = summary.model !== 'popularity';

  const columns: Array<{ title: string; cell: (task: string, metrics: TaskMetrics) => string }> = [
    { title: 'task', cell: (task) => task },
    { title: 'examples', cell: (_task, metrics) => String(metrics.examples ?? 0) },
    { title: `NDCG@${k} ${summary.model}`, cell: (_task, metrics) => format(metrics[`ndcg@${k}`]) },
  ];
  if (besidePopularity) {
    columns.push(
      { title: `NDCG@${k} popularity`, cell: (task) => format(popularity[task]?.[`ndcg@${k}`]) },
      { title: 'NDCG gain', cell: (task, metrics) => gain(metrics[`ndcg@${k}`], popularity[task]?.[`ndcg@${k}`]) },
    );
  }
  columns.push({ title: `Recall@${k} ${summary.model}`, cell: (_task, metrics) => format(metrics[`recall@${k}`]) });
  if (besidePopularity) columns.push({ title: `Recall@${k} popularity`, cell: (task) => format(popularity[task]?.[`recall@${k}`]) });
  columns.push({ title: `NDCG@${k} last-value`, cell: (task) => format(lastValue[task]?.[`ndcg@${k}`]) });

  const header = columns.map((column) => column.title);
  const rows = Object.entries(summary.tasks).map(([task, metrics]) => columns.map((column) => column.cell(task, metrics)));
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  const rule = `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`;
  const seen = summary.excludeSeen === true ? ', seen values excluded' : '';
  const title = `${summary.dataset}, ${summary.split} split${seen}: ${summary.model}${besidePopularity ? ' vs popularity' : ''}`;

  const lines = [title, '', line(header), rule, ...rows.map(line)];
  const otherKs = (summary.ks ?? []).filter((cutoff) => cutoff !== k);
  if (otherKs.length > 0) lines.push('', `metrics.json also holds NDCG, Recall, Precision and MRR at ${otherKs.join(', ')}.`);
  return lines.join('\n');
}

/** Returns the model's NDCG as a multiple of the baseline's, or '-' when there is no meaningful ratio. */
function gain(ndcg: number | undefined, baseline: number | undefined): string {
  return ndcg !== undefined && baseline !== undefined && baseline > 0 ? `${(ndcg / baseline).toFixed(2)}x` : '-';
}

function format(value: number | undefined): string {
  return value === undefined ? '-' : value.toFixed(4);
}
