import type { FastifyInstance } from 'fastify';
import type { SequenceBatch } from '@mcm/model';
import type { CustomerStore } from './customer-store.ts';
import type { ServingMetrics } from './metrics.ts';
import type { CheckpointInfo, ModelLease, ModelSlot } from './model-slot.ts';
import { embedCustomer, excludedCandidates, historyValues, rankCandidates } from './predictions.ts';
import type { RawEventMapper } from './raw-event-mapper.ts';
import type { ServingRun } from './run-directory.ts';
import {
  embeddingRequestSchema,
  embeddingResponseSchema,
  errorResponseSchema,
  topKRequestSchema,
  topKResponseSchema,
  type RequestLimits,
} from './schemas.ts';

/** An error with the HTTP status code of its response; its message goes to the client. */
export class RequestError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

/** Everything the route handlers read. */
export interface RouteContext {
  run: ServingRun;
  store: CustomerStore;
  /** Null when the server was started without a dataset config; raw-event requests are then rejected. */
  mapper: RawEventMapper | null;
  slot: ModelSlot;
  metrics: ServingMetrics;
  /** Task name -> the value of each vocabulary id of the task's feature. */
  taskValues: ReadonlyMap<string, readonly string[]>;
  limits: RequestLimits;
}

interface HistoryRequest {
  customerId?: string;
  events?: Record<string, unknown>[];
}

interface TopKRequest extends HistoryRequest {
  task: string;
  k: number;
  excludeSeen: boolean;
}

/** The history a request named, as model input. */
interface ResolvedHistory {
  batch: SequenceBatch;
  history: { source: 'customer' | 'events'; customerId?: string; events: number };
}

const errorResponses = { 400: errorResponseSchema, 404: errorResponseSchema, 503: errorResponseSchema };

/** Registers the health, readiness, metrics, model and prediction routes. */
export function registerRoutes(app: FastifyInstance, context: RouteContext): void {
  const { run, slot, metrics, limits } = context;
  const tasks = run.modelConfig.tasks.map((task) => task.name);
  const fields = context.mapper?.fields ?? null;

  app.get('/health', { schema: { summary: 'Liveness: the process responds to HTTP.', tags: ['operations'] } }, async () => ({ status: 'ok' }));

  app.get(
    '/ready',
    { schema: { summary: 'Readiness: a model is loaded and requests can be served.', tags: ['operations'] } },
    async (_request, reply) => {
      const checkpoint = slot.checkpoint;
      if (checkpoint === null) {
        return reply.code(503).send({ status: 'waiting', message: `no model loaded yet: waiting for the run's ${run.checkpointKind} checkpoint` });
      }
      return { status: 'ready', checkpoint: publicCheckpoint(checkpoint) };
    },
  );

  app.get('/metrics', { schema: { summary: 'Prometheus metrics in the text exposition format.', tags: ['operations'] } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get('/v1/model', { schema: { summary: 'The served run, its tasks, its checkpoint and the engine running it (onnx or tfjs).', tags: ['model'] } }, async () => ({
    run: run.runDir,
    model: run.model,
    dataset: run.dataset,
    customers: context.store.customers,
    maxLength: run.modelConfig.maxLength,
    embeddingDimension: run.modelConfig.hidden,
    features: run.modelConfig.features.map((feature) => feature.name),
    tasks: run.modelConfig.tasks.map((task) => ({ name: task.name, candidates: task.vocabularySize - 2 })),
    rawEvents: fields === null ? null : { fields: fields.map((field) => ({ name: field.name, role: field.role, required: field.required })) },
    checkpoint: slot.checkpoint === null ? null : publicCheckpoint(slot.checkpoint),
    engine: slot.engine,
  }));

  app.post<{ Body: TopKRequest }>(
    '/v1/top-k',
    {
      schema: {
        summary: "Rank a task's candidates for one customer: the K most likely next values.",
        tags: ['predictions'],
        body: topKRequestSchema(tasks, fields, limits),
        response: { 200: topKResponseSchema, ...errorResponses },
      },
    },
    async (request) => {
      const body = request.body;
      assertReady(context);
      const { batch, history } = await resolveHistory(context, body);
      const task = run.modelConfig.tasks.find((candidate) => candidate.name === body.task)!;
      const values = context.taskValues.get(task.name)!;
      const exclude = excludedCandidates(values, body.excludeSeen ? historyValues(batch, task.feature) : new Set<number>());

      return withModel(context, async (lease) => ({
        task: task.name,
        k: body.k,
        checkpoint: publicCheckpoint(lease.checkpoint),
        history,
        candidates: (await rankCandidates(lease.model, batch, task.name, body.k, exclude)).map((candidate, index) => ({
          rank: index + 1,
          value: values[candidate.id] ?? String(candidate.id),
          id: candidate.id,
          score: candidate.score,
        })),
      }));
    },
  );

  app.post<{ Body: HistoryRequest }>(
    '/v1/embedding',
    {
      schema: {
        summary: 'The customer embedding: the mean of the encoder output over the history.',
        tags: ['predictions'],
        body: embeddingRequestSchema(fields, limits),
        response: { 200: embeddingResponseSchema, ...errorResponses },
      },
    },
    async (request) => {
      assertReady(context);
      const { batch, history } = await resolveHistory(context, request.body);
      return withModel(context, async (lease) => {
        const embedding = await embedCustomer(lease.model, batch);
        return { checkpoint: publicCheckpoint(lease.checkpoint), history, dimension: embedding.length, embedding };
      });
    },
  );
}

/** Raises a 503 before the first checkpoint is loaded, whatever else is wrong with the request. */
function assertReady(context: RouteContext): void {
  if (!context.slot.ready) throw notReady(context);
}

function notReady(context: RouteContext): RequestError {
  return new RequestError(503, `no model loaded yet: waiting for the run's ${context.run.checkpointKind} checkpoint`);
}

/**
 * Runs `use` with the current model. A hot reload may swap the model while `use` awaits
 * inference; the lease keeps this request's model alive until `use` settles.
 */
async function withModel<T>(context: RouteContext, use: (lease: ModelLease) => Promise<T>): Promise<T> {
  const lease = context.slot.acquire();
  if (lease === null) throw notReady(context);
  try {
    return await use(lease);
  } finally {
    lease.release();
  }
}

async function resolveHistory(context: RouteContext, body: HistoryRequest): Promise<ResolvedHistory> {
  const { run, store, mapper } = context;
  const featureNames = run.modelConfig.features.map((feature) => feature.name);
  const maxLength = run.modelConfig.maxLength;

  if ((body.customerId === undefined) === (body.events === undefined)) {
    throw new RequestError(400, 'body must contain exactly one of "customerId" (a customer of the ingested data) or "events" (raw events, oldest first)');
  }

  if (body.customerId !== undefined) {
    const batch = store.history(body.customerId, featureNames, maxLength);
    if (batch === null) throw new RequestError(404, `customer "${body.customerId}" not found in the ingested data of dataset "${run.dataset}"`);
    return { batch, history: { source: 'customer', customerId: body.customerId, events: batch.lengths[0]! } };
  }

  if (mapper === null) {
    throw new RequestError(400, 'this server maps raw events only when started with --config <dataset config>; send "customerId" instead');
  }
  // The model reads at most maxLength events, the most recent ones.
  const events = body.events!.slice(-maxLength);
  const mapped = await mapper.map(events, featureNames);
  const batch: SequenceBatch = { batchSize: 1, length: mapped.length, lengths: Int32Array.of(mapped.length), features: mapped.features };
  return { batch, history: { source: 'events', events: mapped.length } };
}

function publicCheckpoint(checkpoint: CheckpointInfo): Omit<CheckpointInfo, 'tensorsSha256'> {
  return { kind: checkpoint.kind, step: checkpoint.step, createdAt: checkpoint.createdAt, loadedAt: checkpoint.loadedAt };
}
