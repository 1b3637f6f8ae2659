import { describe, expect, it } from 'vitest';
import { formatMetricsTable } from '../src/metrics-table.ts';

describe('formatMetricsTable', () => {
  const metrics = (ndcg: number, recall: number) => ({ 'ndcg@10': ndcg, 'recall@10': recall, examples: 50 });

  it('shows the model beside the baselines', () => {
    const table = formatMetricsTable({
      model: 'mcm',
      dataset: 'synth',
      split: 'test',
      tasks: { brand: metrics(0.3, 0.5), category: metrics(0.1, 0.2) },
      baselines: { popularity: { brand: metrics(0.1, 0.25), category: metrics(0, 0) }, 'last-value': { brand: metrics(0.2, 0.3), category: metrics(0.05, 0.1) } },
    });
    const lines = table.split('\n');
    expect(lines[0]).toBe('synth, test split: mcm vs popularity');
    expect(lines[2]).toMatch(/^\| task +\| examples \| NDCG@10 mcm \| NDCG@10 popularity \| NDCG gain \| Recall@10 mcm \| Recall@10 popularity \| NDCG@10 last-value \|$/);
    expect(lines[4]).toMatch(/^\| brand +\| 50 +\| 0\.3000 +\| 0\.1000 +\| 3\.00x +\| 0\.5000 +\| 0\.2500 +\| 0\.2000 +\|$/);
    // A popularity NDCG of 0 has no meaningful ratio.
    expect(lines[5]).toMatch(/^\| category +\| 50 +\| 0\.1000 +\| 0\.0000 +\| - +\|/);
  });

  it('marks a missing baseline with a dash', () => {
    const table = formatMetricsTable({ model: 'mcm', dataset: 'd', split: 'validation', tasks: { brand: metrics(0.3, 0.5) }, baselines: {} });
    expect(table.split('\n')[4]).toMatch(/^\| brand +\| 50 +\| 0\.3000 +\| - +\| - +\| 0\.5000 +\| - +\| - +\|$/);
  });

  it('shows popularity alone and names the other cut-offs', () => {
    const table = formatMetricsTable({
      model: 'popularity',
      dataset: 'synth',
      split: 'test',
      ks: [5, 10, 20],
      tasks: { brand: metrics(0.1, 0.25) },
      baselines: { popularity: { brand: metrics(0.1, 0.25) }, 'last-value': { brand: metrics(0.2, 0.3) } },
    });
    const lines = table.split('\n');
    expect(lines[0]).toBe('synth, test split: popularity');
    expect(lines[2]).toMatch(/^\| task +\| examples \| NDCG@10 popularity \| Recall@10 popularity \| NDCG@10 last-value \|$/);
    expect(lines[4]).toMatch(/^\| brand +\| 50 +\| 0\.1000 +\| 0\.2500 +\| 0\.2000 +\|$/);
    expect(lines[6]).toBe('metrics.json also holds NDCG, Recall, Precision and MRR at 5, 20.');
  });
});
