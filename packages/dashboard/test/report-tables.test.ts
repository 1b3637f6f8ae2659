import { describe, expect, it } from 'vitest';
import { requestAccess, tokenMatches, TOKEN_COOKIE } from '../src/access-token.ts';
import { escapeHtml, jsonForScript } from '../src/report/html.ts';
import { metricsTableHtml, type ReportMetrics } from '../src/report/metrics-table.ts';

const metrics: ReportMetrics = {
  model: 'mcm',
  dataset: 'fixture',
  backend: 'cpu',
  split: 'test',
  checkpoint: { kind: 'best', step: 30 },
  tasks: { category: { 'ndcg@10': 0.4, 'recall@10': 0.7, examples: 120 }, '<brand>': { 'ndcg@10': 0.5, 'recall@10': 1, examples: 120 } },
  baselines: {
    popularity: { category: { 'ndcg@10': 0.2, 'recall@10': 0.5 }, '<brand>': { 'ndcg@10': 0, 'recall@10': 0.9 } },
    'last-value': { category: { 'ndcg@10': 0.25 }, '<brand>': { 'ndcg@10': 0.45 } },
  },
  training: null,
};

describe('metricsTableHtml', () => {
  it('renders the columns of the evaluate table', () => {
    const html = metricsTableHtml(metrics);
    expect(html).toContain('<th class="number">NDCG@10 mcm</th>');
    expect(html).toContain('<th scope="row">category</th><td class="number">120</td><td class="number">0.4000</td><td class="number">0.2000</td><td class="number">2.00x</td>');
    expect(html).toContain('<td class="number">0.7000</td><td class="number">0.5000</td><td class="number">0.2500</td></tr>');
  });

  it('escapes task names and leaves a zero baseline without gain', () => {
    const html = metricsTableHtml(metrics);
    expect(html).toContain('<th scope="row">&lt;brand&gt;</th>');
    expect(html).not.toContain('<brand>');
    expect(html).toMatch(/&lt;brand&gt;<\/th><td class="number">120<\/td><td class="number">0.5000<\/td><td class="number">0.0000<\/td><td class="number">-<\/td>/);
  });
});

describe('inline data', () => {
  it('cannot end a script element', () => {
    expect(jsonForScript({ text: '</script><script>alert(1)</script>' })).not.toContain('</script');
    expect(escapeHtml(`"a" & 'b'`)).toBe('&quot;a&quot; &amp; &#39;b&#39;');
  });
});

describe('dashboard token', () => {
  it('matches only the exact token', () => {
    expect(tokenMatches('secret', 'secret')).toBe(true);
    expect(tokenMatches('secret', 'secret ')).toBe(false);
    expect(tokenMatches('secret', undefined)).toBe(false);
  });

  it('reads the token from the header or the cookie', () => {
    expect(requestAccess(undefined, { authorization: 'Bearer secret' })).toBe('read-only');
    expect(requestAccess('secret', {})).toBe('token-required');
    expect(requestAccess('secret', { authorization: 'Bearer secret' })).toBe('authorized');
    expect(requestAccess('secret', { cookie: `other=1; ${TOKEN_COOKIE}=secret` })).toBe('authorized');
    expect(requestAccess('secret', { cookie: `${TOKEN_COOKIE}=wrong` })).toBe('token-required');
  });
});
