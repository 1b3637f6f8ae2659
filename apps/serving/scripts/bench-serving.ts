/**
 * Measures latency and throughput of a running server with autocannon: batch-1
 * requests on loopback, one scenario after another, each for a fixed duration.
 *
 *   npx tsx apps/serving/scripts/bench-serving.ts --url http://127.0.0.1:8080 --data <ingest output> \
 *     [--raw-root <synth output>] [--seconds 20] [--connections 4]
 *
 * Customer ids come from the ingest output; with --raw-root, a raw-event scenario sends
 * each customer's 20 most recent generator events. Prints a Markdown table.
 * `npm run bench:serving` (scripts/bench-serving.ts) starts the servers itself and
 * compares the onnx and tfjs engines.
 */
import { parseArgs } from 'node:util';
import { loadTrainingData } from '@mcm/training';
import { assertLoopback, embeddingScenario, rawEventsScenario, recentRawEvents, runLoad, topKScenario, type Scenario } from './load-scenarios.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    data: { type: 'string' },
    'raw-root': { type: 'string' },
    seconds: { type: 'string', default: '20' },
    connections: { type: 'string', default: '4' },
    task: { type: 'string', default: 'category' },
  },
});
if (values.data === undefined) throw new Error('--data <ingest output directory> is required: it lists the customer ids to request');
const url = values.url!.replace(/\/$/, '');
const seconds = Number(values.seconds);
const connections = Number(values.connections);
assertLoopback(url);

const customers = (await loadTrainingData(values.data)).customers.map((customer) => customer.id);
const scenarios: Scenario[] = [topKScenario(customers, values.task!), embeddingScenario(customers)];
if (values['raw-root'] !== undefined) scenarios.push(rawEventsScenario(await recentRawEvents(values['raw-root'], 20), values.task!, 20));

const rows: string[] = [];
for (const scenario of scenarios) {
  const result = await runLoad(url, scenario, connections, seconds);
  rows.push(`| ${scenario.name} | ${connections} | ${result.p50} | ${result.p99} | ${result.requestsPerSecond.toFixed(0)} | ${result.requests} | ${result.failed} |`);
}

process.stdout.write(
  ['| scenario | connections | p50 ms | p99 ms | requests/s | requests | failed |', '|---|---|---|---|---|---|---|', ...rows].join('\n') + '\n',
);
