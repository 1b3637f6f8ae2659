/**
 * Measures latency and throughput of a running server with autocannon: batch-1
 * requests on loopback, one scenario after another, each for a fixed duration.
 *
 *   npx tsx apps/serving/scripts/bench-serving.ts --url http://127.0.0.1:8080 --data <ingest output> \
 *     [--raw-root <synth output>] [--seconds 20] [--connections 4]
 *
 * Customer ids come from the ingest output; with --raw-root, a raw-event scenario sends
 * each customer's 20 most recent generator events. Prints a Markdown table.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import autocannon from 'autocannon';
import { loadTrainingData } from '@mcm/training';

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
if (!loopback(url)) throw new Error(`--url ${url} is not a loopback address; this benchmark only sends load to 127.0.0.0/8, localhost or [::1]`);

const customers = (await loadTrainingData(values.data)).customers.map((customer) => customer.id);
const rawEvents = values['raw-root'] === undefined ? null : await recentRawEvents(values['raw-root'], 20);

interface Scenario {
  name: string;
  path: string;
  bodies: string[];
}

const scenarios: Scenario[] = [
  { name: `top-10 ${values.task}, customer id`, path: '/v1/top-k', bodies: customers.map((customerId) => JSON.stringify({ task: values.task, k: 10, customerId })) },
  { name: 'embedding, customer id', path: '/v1/embedding', bodies: customers.map((customerId) => JSON.stringify({ customerId })) },
];
if (rawEvents !== null) {
  scenarios.push({
    name: `top-10 ${values.task}, 20 raw events`,
    path: '/v1/top-k',
    bodies: [...rawEvents.values()].map((events) => JSON.stringify({ task: values.task, k: 10, events })),
  });
}

const rows: string[] = [];
for (const scenario of scenarios) {
  let next = 0;
  const result = await autocannon({
    url: `${url}${scenario.path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections,
    duration: seconds,
    requests: [{ setupRequest: (request) => ({ ...request, body: scenario.bodies[next++ % scenario.bodies.length] }) }],
  });
  const failed = result.errors + result.timeouts + result.non2xx;
  rows.push(
    `| ${scenario.name} | ${connections} | ${result.latency.p50} | ${result.latency.p99} | ${result.requests.average.toFixed(0)} | ${result.requests.total} | ${failed} |`,
  );
}

process.stdout.write(
  ['| scenario | connections | p50 ms | p99 ms | requests/s | requests | failed |', '|---|---|---|---|---|---|---|', ...rows].join('\n') + '\n',
);

/** The last `count` events of each customer in a generator output, in the raw column names. */
async function recentRawEvents(rawRoot: string, count: number): Promise<Map<string, Array<Record<string, string>>>> {
  const byCustomer = new Map<string, Array<{ time: number; event: Record<string, string> }>>();
  for (const file of (await readdir(rawRoot)).filter((name) => /^events-\d+\.csv\.gz$/.test(name)).sort()) {
    const lines = gunzipSync(await readFile(join(rawRoot, file))).toString('utf8').trim().split('\n');
    for (const line of lines.slice(1)) {
      const [customer, timestamp, eventType, item] = line.split(',');
      const events = byCustomer.get(customer!) ?? [];
      events.push({ time: Number(timestamp), event: { item_id: item!, event_type: eventType! } });
      byCustomer.set(customer!, events);
    }
  }
  return new Map(
    [...byCustomer].map(([customer, events]) => [customer, events.sort((a, b) => a.time - b.time).slice(-count).map((entry) => entry.event)]),
  );
}

function loopback(address: string): boolean {
  const host = new URL(address).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
