import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '@mcm/common';
import type { TaskMetrics } from '@mcm/training';

/** One model's row: each task's metrics, and the runs that produced them. */
export interface AblationRow {
  model: string;
  description: string;
  backend: string;
  split: string;
  /** Task -> metrics of the run that trained the task. */
  metrics: Record<string, TaskMetrics>;
  /** Optimizer steps over all of the model's runs (0 for a baseline). */
  steps: number;
  /** Training wall time over all of the model's runs, evaluations during training included. */
  wallSeconds: number;
  runs: Array<{ tasks: string[]; checkpoint: unknown; training: unknown }>;
}

/** The content of `<results>/<dataset>.json`. */
export interface AblationResults {
  dataset: string;
  /** The command that reproduces every number. */
  command: string;
  split: string;
  /** Whether each customer's already-seen values were left out of the candidates; absent in older results (never left out). */
  excludeSeen?: boolean;
  /** Task -> evaluation examples. */
  examples: Record<string, number>;
  tasks: string[];
  budgetMinutes: number;
  /** Whether each task of a per-task model got the whole budget (else the tasks shared it). */
  budgetPerTask: boolean;
  seed: number;
  machine: string;
  wallSeconds: number;
  /** One-minute load average of the machine when the first and after the last model ran. */
  loadAverage?: { start: number; end: number };
  createdAt: string;
  rows: AblationRow[];
}

/** Writes `<dir>/<dataset>.md` and `<dir>/<dataset>.json`. */
export async function writeAblationResults(dir: string, results: AblationResults): Promise<{ markdownPath: string; jsonPath: string }> {
  await mkdir(dir, { recursive: true });
  const markdownPath = join(dir, `${results.dataset}.md`);
  const jsonPath = join(dir, `${results.dataset}.json`);
  await writeJsonAtomic(jsonPath, results);
  await writeFileAtomic(markdownPath, formatAblationMarkdown(results));
  return { markdownPath, jsonPath };
}

/** Formats the Markdown page of an ablation: the command above the table, then one row per model. */
export function formatAblationMarkdown(results: AblationResults): string {
  const { tasks } = results;
  const best = Object.fromEntries(tasks.map((task) => [task, Math.max(...results.rows.map((row) => row.metrics[task]?.['ndcg@10'] ?? -1))]));

  const header = ['model', ...tasks.flatMap((task) => [`${task} NDCG@10`, `${task} Recall@10`]), 'steps', 'wall time', 'backend'];
  const lines = [
    `# Ablation on ${results.dataset}`,
    '',
    'Produced by the command below. Budgets are wall-clock minutes, so the steps each model gets, and with them the',
    "numbers, vary with the machine's speed and load; the page records both.",
    '',
    `    ${results.command}`,
    '',
    `${results.split} split, full ranking over every candidate of each task` +
      (results.excludeSeen === true ? " except the values the customer has already seen (--filter-seen)" : '') +
      '; examples per task: ' +
      `${tasks.map((task) => `${task} ${results.examples[task]?.toLocaleString('en-US') ?? 0}`).join(', ')}. ` +
      `Budget: ${results.budgetMinutes} training ${results.budgetMinutes === 1 ? 'minute' : 'minutes'} per model` +
      (results.budgetPerTask ? ' and task, since per-task models train one model per task, each for the whole budget. ' : ', which per-task models share among their tasks. ') +
      `Seed ${results.seed}. Machine: ${results.machine}` +
      (results.loadAverage === undefined ? '. ' : `, load average ${results.loadAverage.start.toFixed(1)} at the start and ${results.loadAverage.end.toFixed(1)} at the end. `) +
      `The whole ablation took ${(results.wallSeconds / 60).toFixed(1)} minutes (${results.createdAt.slice(0, 10)}). ` +
      'The best NDCG@10 of each task is in bold.',
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
  ];
  for (const row of results.rows) {
    const cells = [row.model];
    for (const task of tasks) {
      const metrics = row.metrics[task];
      const ndcg = metrics?.['ndcg@10'];
      const recall = metrics?.['recall@10'];
      let ndcgCell = ndcg === undefined ? 'n/a' : ndcg.toFixed(4);
      if (ndcg !== undefined && ndcg === best[task]) ndcgCell = `**${ndcgCell}**`;
      cells.push(ndcgCell);
      cells.push(recall === undefined ? 'n/a' : recall.toFixed(4));
    }
    cells.push(row.steps === 0 ? '-' : String(row.steps), formatSeconds(row.wallSeconds), row.backend);
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push('', 'Models:', '');
  for (const row of results.rows) lines.push(`- \`${row.model}\`: ${row.description}.`);
  lines.push('');
  return lines.join('\n');
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return `${(seconds / 60).toFixed(1)} min`;
}
