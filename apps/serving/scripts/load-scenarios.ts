/**
 * Request scenarios and the autocannon run shared by the serving benchmarks: batch-1
 * requests on loopback, each scenario for a fixed duration.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import autocannon from 'autocannon';

/** Requests of one kind; each request takes the next body, round-robin. */
export interface Scenario {
  name: string;
  path: string;
  bodies: string[];
}

/** Latency in milliseconds and throughput of one autocannon run. */
export interface LoadResult {
  /** Median latency of the 2xx responses, to 0.01 ms. */
  p50: number;
  /** 99th-percentile latency of the 2xx responses, to 0.01 ms. */
  p99: number;
  requestsPerSecond: number;
  requests: number;
  /** Errors, timeouts and responses other than 2xx. */
  failed: number;
}

/** Returns the scenario of top-K requests of `task` for every customer in turn, by customer id. */
export function topKScenario(customers: readonly string[], task: string, k = 10): Scenario {
  return { name: `top-${k} ${task}, customer id`, path: '/v1/top-k', bodies: customers.map((customerId) => JSON.stringify({ task, k, customerId })) };
}

/** Returns the scenario of embedding requests for every customer in turn, by customer id. */
export function embeddingScenario(customers: readonly string[]): Scenario {
  return { name: 'embedding, customer id', path: '/v1/embedding', bodies: customers.map((customerId) => JSON.stringify({ customerId })) };
}

/** Returns the scenario of top-K requests of `task` from each customer's most recent raw events. */
export function rawEventsScenario(rawEvents: ReadonlyMap<string, Array<Record<string, string>>>, task: string, count: number, k = 10): Scenario {
  return {
    name: `top-${k} ${task}, ${count} raw events`,
    path: '/v1/top-k',
    bodies: [...rawEvents.values()].map((events) => JSON.stringify({ task, k, events })),
  };
}

/**
 * Sends `scenario` to the server at `url` from `connections` connections for `seconds`.
 * The percentiles come from each response's time as autocannon measures it, because
 * autocannon's own histogram keeps whole milliseconds and a request here takes less.
 */
export async function runLoad(url: string, scenario: Scenario, connections: number, seconds: number): Promise<LoadResult> {
  assertLoopback(url);
  let next = 0;
  const options: autocannon.Options = {
    url: `${url.replace(/\/$/, '')}${scenario.path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections,
    duration: seconds,
    requests: [{ setupRequest: (request) => ({ ...request, body: scenario.bodies[next++ % scenario.bodies.length] }) }],
  };
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolveResult, reject) => {
    const instance = autocannon(options, (error, finished) => (error ? reject(error) : resolveResult(finished)));
    instance.on('response', (_client, statusCode, _bytes, milliseconds) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(milliseconds);
    });
  });
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    requestsPerSecond: result.requests.average,
    requests: result.requests.total,
    failed: result.errors + result.timeouts + result.non2xx,
  };
}

/** Returns the value below which a `fraction` of the sorted values lie (nearest rank), rounded to 0.01, or NaN for no values. */
function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const value = sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
  return Math.round(value * 100) / 100;
}

/** The last `count` events of each customer in a generator output, in the raw column names. */
export async function recentRawEvents(rawRoot: string, count: number): Promise<Map<string, Array<Record<string, string>>>> {
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

/** Throws unless `url` names a loopback address: the benchmarks send load to this machine only. */
export function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)) return;
  throw new Error(`--url ${url} is not a loopback address; the serving benchmarks only send load to 127.0.0.0/8, localhost or [::1]`);
}
