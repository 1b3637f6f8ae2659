import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { defaultParameters, PARAMETER_SPECS, resolveParameters } from '../src/index.ts';

describe('generator parameters', () => {
  it('defaults pass their own bounds', () => {
    expect(resolveParameters()).toEqual(defaultParameters());
  });

  it('unknown name is rejected with the known names', () => {
    expect(() => resolveParameters({ customer: 10 })).toThrow(/unknown generator parameter "customer"; known parameters: customers,/);
  });

  it('out-of-range value names bounds and unit', () => {
    expect(() => resolveParameters({ cartProbability: 1.5 })).toThrow('cartProbability must be between 0 and 1 (probability per view), got 1.5');
    expect(() => resolveParameters({ customers: 2.5 })).toThrow('customers must be an integer (customers), got 2.5');
    expect(() => resolveParameters({ days: '90' })).toThrow('days must be a number (days), got "90"');
    expect(() => resolveParameters({ start: 'yesterday' })).toThrow(/start must be an ISO-8601 time/);
  });

  it('inconsistent brand bounds are rejected', () => {
    expect(() => resolveParameters({ minBrandsPerSubcategory: 8, maxBrandsPerSubcategory: 4 })).toThrow(
      'minBrandsPerSubcategory (8) exceeds maxBrandsPerSubcategory (4)',
    );
    expect(() => resolveParameters({ brandsPerProductLine: 5 })).toThrow('maxBrandsPerSubcategory (12) exceeds brandsPerProductLine (5)');
  });

  it('file size beyond the sort key is rejected', () => {
    expect(() => resolveParameters({ customersPerFile: 1_000_000, maxEventsPerCustomer: 1_000 })).toThrow(/must stay below 2\^28/);
  });

  it('docs list every parameter with its default', async () => {
    const docs = await readFile(new URL('../../../docs/generator.md', import.meta.url), 'utf8');
    const missing = Object.entries(PARAMETER_SPECS)
      .filter(([name, spec]) => !docs.includes(`| \`${name}\` | ${spec.default} |`))
      .map(([name]) => name);
    expect(missing, 'parameters whose "| `name` | default |" row is missing from docs/generator.md').toEqual([]);
  });
});
