import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomerModel, type SequenceBatch } from '@mcm/model';
import { FIRST_VALUE_ID, MISSING_VALUE, OOV_ID, readVocabulary } from '@mcm/schema';
import { buildBatch, checkpointDir, loadCheckpoint, loadTrainingData, type TrainingData } from '@mcm/training';
import type { EngineName } from '../src/scoring-model.ts';
import { startServer, type RunningServer } from '../src/server.ts';
import { buildTinyRun, readRawEvents, silentLogger, SYNTH_CONFIG, type RawEventRow, type TinyRun } from './helpers/tiny-run.ts';

let run: TinyRun;
/** The server on the default engine (onnx); most tests use it. */
let server: RunningServer;
/** The server of each engine, for the tests that compare a response with the model's own numbers. */
const servers = {} as Record<EngineName, RunningServer>;
let data: TrainingData;
let model: CustomerModel;
let rawEvents: Map<string, RawEventRow[]>;
/** Task -> id of the missing-value placeholder, which top-K never returns. */
const missingIds = new Map<string, number>();

beforeAll(async () => {
  run = await buildTinyRun();
  for (const task of run.modelConfig.tasks) missingIds.set(task.name, (await readVocabulary(run.dataDir, task.name)).indexOf(MISSING_VALUE));
  for (const engine of ['onnx', 'tfjs'] as const) {
    servers[engine] = await startServer({
      runDir: run.runDir,
      port: 0,
      datasetConfig: SYNTH_CONFIG,
      dataRoot: run.rawDir,
      backend: 'wasm',
      engine,
      logger: silentLogger(),
    });
  }
  server = servers.onnx;
  data = await loadTrainingData(run.dataDir);
  const checkpoint = await loadCheckpoint(checkpointDir(run.runDir), 'best');
  model = CustomerModel.create(run.modelConfig, 0);
  model.setWeights(checkpoint.weights);
  rawEvents = await readRawEvents(run.rawDir);
});

afterAll(async () => {
  for (const running of Object.values(servers)) await running.close();
  model?.dispose();
  if (run !== undefined) await rm(run.root, { recursive: true, force: true });
});

interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}, target: RunningServer = server): Promise<Answer> {
  const response = await fetch(`${target.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {}, text };
}

async function get(path: string, target: RunningServer = server): Promise<Answer> {
  const response = await fetch(`${target.url}${path}`);
  const text = await response.text();
  return { status: response.status, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {}, text };
}

/** The customer's whole ingested history, cut to the model's maxLength, as the server builds it. */
function customerBatch(customerId: string): SequenceBatch {
  const record = data.customers.find((candidate) => candidate.id === customerId)!;
  const start = Math.max(record.start, record.end - run.modelConfig.maxLength);
  return buildBatch([{ shard: data.shards[record.shard]!, customer: record.customer, start, end: record.end }], run.modelConfig.features.map((f) => f.name));
}

/** Candidate ids of `task` sorted by the model's own scores, best first, ties by lower id. */
function modelOrdering(batch: SequenceBatch, task: string): Array<{ id: number; score: number }> {
  const tensor = model.scores(batch, task);
  const scores = tensor.dataSync() as Float32Array;
  tensor.dispose();
  const candidates: Array<{ id: number; score: number }> = [];
  for (let id = FIRST_VALUE_ID; id < scores.length; id++) if (id !== missingIds.get(task)) candidates.push({ id, score: scores[id]! });
  return candidates.sort((a, b) => b.score - a.score || a.id - b.id);
}

/** A customer with a long history whose raw events have distinct timestamps, so their order is the ingest's. */
function customerWithDistinctTimes(): { id: string; rows: RawEventRow[] } {
  for (const record of data.customers) {
    const rows = rawEvents.get(record.id) ?? [];
    const times = new Set(rows.map((row) => row.timestamp));
    if (rows.length >= 8 && rows.length <= run.modelConfig.maxLength && times.size === rows.length && rows.length === record.end - record.start) {
      return { id: record.id, rows: [...rows].sort((a, b) => Number(a.timestamp) - Number(b.timestamp)) };
    }
  }
  throw new Error('no customer with distinct event times in the fixture');
}

function eventsOf(rows: readonly RawEventRow[]): Array<Record<string, string>> {
  return rows.map((row) => ({ item_id: row.item_id, event_type: row.event_type, timestamp: row.timestamp }));
}

describe('operations endpoints', () => {
  it('health answers ok', async () => {
    const answer = await get('/health');
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe('ok');
  });

  it('ready names the loaded checkpoint', async () => {
    const answer = await get('/ready');
    expect(answer.status).toBe(200);
    expect(answer.body.status).toBe('ready');
    expect((answer.body.checkpoint as { kind: string }).kind).toBe('best');
  });

  it('metrics count requests per route', async () => {
    await post('/v1/top-k', { task: 'category', customerId: data.customers[0]!.id });
    await post('/v1/top-k', { task: 'no-such-task', customerId: data.customers[0]!.id });
    const answer = await get('/metrics');
    expect(answer.status).toBe(200);
    expect(answer.text).toMatch(/mcm_serving_request_duration_seconds_bucket\{[^}]*route="\/v1\/top-k"/);
    expect(answer.text).toMatch(/mcm_serving_requests_total\{[^}]*route="\/v1\/top-k",status_code="200"\} [1-9]/);
    expect(answer.text).toMatch(/mcm_serving_request_errors_total\{[^}]*route="\/v1\/top-k",status_code="400"\} [1-9]/);
    expect(answer.text).toMatch(/mcm_serving_checkpoint_step \d+/);
  });

  it('openapi document lists the routes', async () => {
    const answer = await get('/openapi.json');
    expect(answer.status).toBe(200);
    expect(answer.body.openapi).toBe('3.1.0');
    const paths = answer.body.paths as Record<string, Record<string, { requestBody?: unknown }>>;
    for (const path of ['/v1/top-k', '/v1/embedding', '/v1/model', '/health', '/ready', '/metrics']) expect(Object.keys(paths)).toContain(path);
    expect(JSON.stringify(paths['/v1/top-k']!.post!.requestBody)).toContain('item_id');
  });

  it('model route describes tasks and raw fields', async () => {
    const answer = await get('/v1/model');
    expect(answer.status).toBe(200);
    expect((answer.body.tasks as Array<{ name: string }>).map((task) => task.name)).toEqual(run.modelConfig.tasks.map((task) => task.name));
    expect(answer.body.embeddingDimension).toBe(16);
    expect(JSON.stringify(answer.body.rawEvents)).toContain('event_type');
  });
});

describe.each(['onnx', 'tfjs'] as const)('top-k on %s', (engine) => {
  const ask = (path: string, body: unknown) => post(path, body, {}, servers[engine]);

  it('runs on its engine', async () => {
    expect(servers[engine].loader.engine).toBe(engine);
    expect((await get('/v1/model', servers[engine])).body.engine).toBe(engine);
  });

  it('matches the model ordering for a customer id', async () => {
    for (const task of run.modelConfig.tasks.map((t) => t.name)) {
      const customerId = data.customers[3]!.id;
      const answer = await ask('/v1/top-k', { task, k: 10, customerId });
      expect(answer.status).toBe(200);

      const expected = modelOrdering(customerBatch(customerId), task).slice(0, 10);
      const candidates = answer.body.candidates as Array<{ rank: number; id: number; score: number; value: string }>;
      expect(candidates.map((candidate) => candidate.id)).toEqual(expected.map((candidate) => candidate.id));
      candidates.forEach((candidate, i) => expect(candidate.score).toBeCloseTo(expected[i]!.score, 4));
      expect(candidates.map((candidate) => candidate.rank)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

      const values = await readVocabulary(run.dataDir, task);
      expect(candidates.map((candidate) => candidate.value)).toEqual(expected.map((candidate) => values[candidate.id]));
      expect(answer.body.history).toEqual({ source: 'customer', customerId, events: customerBatch(customerId).lengths[0] });
    }
  });

  it('defaults k to 10', async () => {
    const answer = await ask('/v1/top-k', { task: 'brand', customerId: data.customers[0]!.id });
    expect(answer.status).toBe(200);
    expect(answer.body.k).toBe(10);
    expect((answer.body.candidates as unknown[]).length).toBe(10);
  });

  it('excludeSeen drops values in the history', async () => {
    const customerId = data.customers[5]!.id;
    const batch = customerBatch(customerId);
    const seen = new Set(Array.from(batch.features.category!.ids.subarray(0, batch.lengths[0]!)).filter((id) => id >= FIRST_VALUE_ID));
    expect(seen.size).toBeGreaterThan(0);

    const answer = await ask('/v1/top-k', { task: 'category', k: 20, customerId, excludeSeen: true });
    expect(answer.status).toBe(200);
    const ids = (answer.body.candidates as Array<{ id: number }>).map((candidate) => candidate.id);
    for (const id of ids) expect(seen.has(id)).toBe(false);
    const expected = modelOrdering(batch, 'category').filter((candidate) => !seen.has(candidate.id)).slice(0, 20);
    expect(ids).toEqual(expected.map((candidate) => candidate.id));

    const unfiltered = await ask('/v1/top-k', { task: 'category', k: 20, customerId });
    const unfilteredIds = (unfiltered.body.candidates as Array<{ id: number }>).map((candidate) => candidate.id);
    expect(unfilteredIds.some((id) => seen.has(id))).toBe(true);
  });

  it('returns every candidate when k exceeds them', async () => {
    const answer = await ask('/v1/top-k', { task: 'product_line', k: 100, customerId: data.customers[0]!.id });
    expect(answer.status).toBe(200);
    const candidates = answer.body.candidates as Array<{ id: number }>;
    const placeholders = missingIds.get('product_line')! >= FIRST_VALUE_ID ? 1 : 0;
    expect(candidates.length).toBe(run.manifest.vocabularies.product_line! - FIRST_VALUE_ID - placeholders);
    expect(candidates.some((candidate) => candidate.id === OOV_ID)).toBe(false);
  });

  it('raw events give the customer id answer', async () => {
    const customer = customerWithDistinctTimes();
    const byId = await ask('/v1/top-k', { task: 'subcategory', k: 15, customerId: customer.id });
    const byEvents = await ask('/v1/top-k', { task: 'subcategory', k: 15, events: eventsOf(customer.rows) });
    expect(byEvents.status).toBe(200);
    expect(byEvents.body.history).toEqual({ source: 'events', events: customer.rows.length });
    const ids = (answer: Answer) => (answer.body.candidates as Array<{ id: number }>).map((candidate) => candidate.id);
    expect(ids(byEvents)).toEqual(ids(byId));
  });

  it('maps unknown values to out-of-vocabulary', async () => {
    const answer = await ask('/v1/top-k', {
      task: 'category',
      events: [
        { item_id: 'not-an-item-of-the-catalog', event_type: 'view' },
        { item_id: '', event_type: 'purchase' },
      ],
    });
    expect(answer.status).toBe(200);
    expect((answer.body.candidates as unknown[]).length).toBe(10);
  });
});

describe.each(['onnx', 'tfjs'] as const)('embedding on %s', (engine) => {
  const ask = (path: string, body: unknown) => post(path, body, {}, servers[engine]);

  it('equals the model embedding for a customer id', async () => {
    const customerId = data.customers[7]!.id;
    const answer = await ask('/v1/embedding', { customerId });
    expect(answer.status).toBe(200);
    expect(answer.body.dimension).toBe(16);
    const tensor = model.embed(customerBatch(customerId));
    const expected = Array.from(tensor.dataSync());
    tensor.dispose();
    (answer.body.embedding as number[]).forEach((value, i) => expect(value).toBeCloseTo(expected[i]!, 4));
  });

  it('raw events give the customer id embedding', async () => {
    const customer = customerWithDistinctTimes();
    const byId = await ask('/v1/embedding', { customerId: customer.id });
    const byEvents = await ask('/v1/embedding', { events: eventsOf(customer.rows) });
    expect(byEvents.status).toBe(200);
    (byEvents.body.embedding as number[]).forEach((value, i) => expect(value).toBeCloseTo((byId.body.embedding as number[])[i]!, 4));
  });
});

describe('request validation', () => {
  const customerId = () => data.customers[0]!.id;

  const rejections: Array<{ name: string; path: string; body: () => unknown; status: number; message: RegExp }> = [
    { name: 'unknown task', path: '/v1/top-k', body: () => ({ task: 'colour', customerId: customerId() }), status: 400, message: /body\.task must be one of "product_line", "category".*got "colour"/ },
    { name: 'missing task', path: '/v1/top-k', body: () => ({ customerId: customerId() }), status: 400, message: /body is missing the required field "task"/ },
    { name: 'k of 0', path: '/v1/top-k', body: () => ({ task: 'brand', k: 0, customerId: customerId() }), status: 400, message: /body\.k must be at least 1; got number 0/ },
    { name: 'k above max', path: '/v1/top-k', body: () => ({ task: 'brand', k: 101, customerId: customerId() }), status: 400, message: /body\.k must be at most 100; got number 101/ },
    { name: 'k as string', path: '/v1/top-k', body: () => ({ task: 'brand', k: '5', customerId: customerId() }), status: 400, message: /body\.k must be of type integer; got "5"/ },
    { name: 'fractional k', path: '/v1/top-k', body: () => ({ task: 'brand', k: 2.5, customerId: customerId() }), status: 400, message: /body\.k must be of type integer/ },
    { name: 'unknown field', path: '/v1/top-k', body: () => ({ task: 'brand', customerId: customerId(), limit: 5 }), status: 400, message: /body has unknown field "limit"; allowed fields: task, k, excludeSeen, customerId, events/ },
    { name: 'unknown event field', path: '/v1/top-k', body: () => ({ task: 'brand', events: [{ item_id: 'i1', event_type: 'view', price: 3 }] }), status: 400, message: /body\.events\[0\] has unknown field "price"; allowed fields: item_id, event_type, timestamp/ },
    { name: 'missing event item', path: '/v1/embedding', body: () => ({ events: [{ event_type: 'view' }] }), status: 400, message: /body\.events\[0\] is missing the required field "item_id"/ },
    { name: 'unknown event type', path: '/v1/top-k', body: () => ({ task: 'brand', events: [{ item_id: 'i1', event_type: 'return' }] }), status: 400, message: /body\.events\[0\]\.event_type must be one of "view", "cart"/ },
    { name: 'too many events', path: '/v1/top-k', body: () => ({ task: 'brand', events: Array.from({ length: 51 }, () => ({ item_id: 'i1', event_type: 'view' })) }), status: 400, message: /body\.events has 51 items, more than the limit of 50/ },
    { name: 'empty events', path: '/v1/embedding', body: () => ({ events: [] }), status: 400, message: /body\.events must have at least 1 item/ },
    { name: 'both histories', path: '/v1/top-k', body: () => ({ task: 'brand', customerId: customerId(), events: [{ item_id: 'i1', event_type: 'view' }] }), status: 400, message: /exactly one of "customerId".*or "events"/ },
    { name: 'no history', path: '/v1/embedding', body: () => ({}), status: 400, message: /exactly one of "customerId"/ },
    { name: 'unknown customer', path: '/v1/top-k', body: () => ({ task: 'brand', customerId: 'nobody' }), status: 404, message: /customer "nobody" not found in the ingested data of dataset "synth"/ },
    { name: 'invalid JSON', path: '/v1/top-k', body: () => '{"task": "brand",', status: 400, message: /^the body is not valid JSON: / },
    {
      name: 'a __proto__ key',
      path: '/v1/top-k',
      body: () => '{"task": "brand", "customerId": "c1", "__proto__": {"admin": true}}',
      status: 400,
      message: /^the body contains a "__proto__" key, which is rejected/,
    },
    { name: 'array body', path: '/v1/embedding', body: () => [], status: 400, message: /body must be of type object; got an array/ },
    { name: 'long customer id', path: '/v1/embedding', body: () => ({ customerId: 'c'.repeat(300) }), status: 400, message: /body\.customerId must be at most 256 characters long/ },
  ];

  for (const rejection of rejections) {
    it(`rejects ${rejection.name}`, async () => {
      const answer = await post(rejection.path, rejection.body());
      expect(answer.status).toBe(rejection.status);
      expect(answer.body.message).toMatch(rejection.message);
      expect(answer.text).not.toMatch(/\bat .*\.(ts|js):\d+/);
      expect(answer.body).not.toHaveProperty('stack');
    });
  }

  it('rejects a body over the limit', async () => {
    const events = Array.from({ length: 40 }, () => ({ item_id: 'i'.repeat(30_000), event_type: 'view' }));
    const answer = await post('/v1/top-k', { task: 'brand', events });
    expect(answer.status).toBe(413);
    expect(answer.body.message).toMatch(/too large/i);
  });

  it('rejects an unknown route', async () => {
    const answer = await get('/v1/top-k-please');
    expect(answer.status).toBe(404);
    expect(answer.body.message).toMatch(/route GET \/v1\/top-k-please not found/);
  });

  it('rejects a plain-text body', async () => {
    const answer = await post('/v1/top-k', 'task=brand', { 'content-type': 'text/plain' });
    expect(answer.status).toBe(400);
    expect(answer.body.message).toMatch(/body must be of type object; got "task=brand"/);
  });

  it('rejects an unsupported content type', async () => {
    const answer = await post('/v1/top-k', '<task>brand</task>', { 'content-type': 'application/xml' });
    expect(answer.status).toBe(415);
    expect(answer.body.message).toBe(
      'unsupported media type (Content-Type application/xml); send the body as JSON with the header Content-Type: application/json',
    );
  });

  it('rejects a body without a content type', async () => {
    // fetch sets no Content-Type for a byte array.
    const response = await fetch(`${server.url}/v1/top-k`, { method: 'POST', body: new TextEncoder().encode('{"task": "brand"}') });
    const body = (await response.json()) as { message: string };

    expect(response.status).toBe(415);
    expect(body.message).toBe('unsupported media type (no Content-Type header); send the body as JSON with the header Content-Type: application/json');
  });
});

describe('server without a dataset config', () => {
  it('rejects raw events and serves customer ids', async () => {
    const plain = await startServer({ runDir: run.runDir, port: 0, backend: 'wasm', logger: silentLogger() });
    try {
      const events = await fetch(`${plain.url}/v1/top-k`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'brand', events: [{ item_id: 'i1' }] }),
      });
      expect(events.status).toBe(400);
      expect(((await events.json()) as { message: string }).message).toMatch(/only when started with --config/);

      const byId = await fetch(`${plain.url}/v1/top-k`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'brand', customerId: data.customers[0]!.id }),
      });
      expect(byId.status).toBe(200);
    } finally {
      await plain.close();
    }
  });
});
