import type { TaskMetrics } from '@mcm/training';

/** The parts of metrics.json the table shows. */
export interface MetricsSummary {
  model: string;
  dataset: string;
  split: string;
  tasks: Record<string, TaskMetrics>;
  baselines: Record<string, Record<string, TaskMetrics>>;
}

/**
 * Formats per-task NDCG@10 and Recall@10 of the model beside the popularity baseline as
 * a Markdown table, with the model's gain over popularity in NDCG@10 and the last-value
 * baseline's NDCG@10 (a customer repeating their last value) for comparison.
 */
export function formatMetricsTable(summary: MetricsSummary, k = 10): string {
  const popularity = summary.baselines.popularity ?? {};
  const lastValue = summary.baselines['last-value'] ?? {};
  const header = [
    'task',
    'examples',
    `NDCG@${k} ${summary.model}`,
    `NDCG@${k} popularity`,
    'NDCG gain',
    `Recall@${k} ${summary.model}`,
    `Recall@${k} popularity`,
    `NDCG@${k} last-value`,
  ];
  const rows = Object.entries(summary.tasks).map(([task, metrics]) => {
    const baseline = popularity[task];
    const ndcg = metrics[`ndcg@${k}`];
    const baselineNdcg = baseline?.[`ndcg@${k}`];
    const gain = ndcg !== undefined && baselineNdcg !== undefined && baselineNdcg > 0 ? `${(ndcg / baselineNdcg).toFixed(2)}x` : '-';
    return [
      task,
      String(metrics.examples ?? 0),
      format(ndcg),
      format(baselineNdcg),
      gain,
      format(metrics[`recall@${k}`]),
      format(baseline?.[`recall@${k}`]),
      format(lastValue[task]?.[`ndcg@${k}`]),
    ];
  });

  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  const rule = `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`;
  const title = `${summary.dataset}, ${summary.split} split: ${summary.model} vs popularity`;
  return [title, '', line(header), rule, ...rows.map(line)].join('\n');
}

function format(value: number | undefined): string {
  return value === undefined ? '-' : value.toFixed(4);
}
