import { beforeAll, expect, test } from 'vitest';
import { CustomerModel } from '../src/customer-model.ts';
import { buildSequenceBatch, maxAbsDifference, tinyConfig, useCpuBackend, type TestEvent } from './helpers.ts';

beforeAll(useCpuBackend);

const history: TestEvent[] = [
  { item: 3, brand: 2, tags: [4] },
  { item: 5, brand: 1, tags: [] },
  { item: 8, brand: 4, tags: [2, 3] },
  { item: 2, brand: 6, tags: [5] },
  { item: 11, brand: 3, tags: [1] },
];
// Every feature of events 3 and 4 changes; the length (and so every position id) stays.
const perturbed: TestEvent[] = [...history.slice(0, 3), { item: 9, brand: 5, tags: [1, 2] }, { item: 4, brand: 1, tags: [] }];

/** Returns the hidden state of each position of one customer, padded to length 7. */
function hiddenRows(model: CustomerModel, events: TestEvent[]): number[][] {
  const hidden = model.hiddenStates(buildSequenceBatch(model.config, [events], { length: 7 }));
  const rows = hidden.arraySync()[0]!;
  hidden.dispose();
  return rows;
}

test('causal positions ignore later events', () => {
  const model = CustomerModel.create(tinyConfig({ attention: 'causal' }), 2);
  const original = hiddenRows(model, history);
  const changed = hiddenRows(model, perturbed);

  for (let position = 0; position < 3; position++) {
    expect(maxAbsDifference(original[position]!, changed[position]!), `position ${position}`).toBeLessThan(1e-6);
  }
  expect(maxAbsDifference(original[3]!, changed[3]!), 'position 3 sees its own change').toBeGreaterThan(1e-3);
  model.dispose();
});

test('bidirectional positions see later events', () => {
  const model = CustomerModel.create(tinyConfig({ attention: 'bidirectional' }), 2);
  const original = hiddenRows(model, history);
  const changed = hiddenRows(model, perturbed);

  expect(maxAbsDifference(original[0]!, changed[0]!)).toBeGreaterThan(1e-3);
  model.dispose();
});
