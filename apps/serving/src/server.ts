import { STATUS_CODES } from 'node:http';
import { resolve } from 'node:path';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import { createLogger, type Logger } from '@mcm/common';
import { initBackend, type BackendPreference } from '@mcm/model';
import { loadDatasetConfig, readVocabulary } from '@mcm/schema';
import type { CheckpointKind } from '@mcm/training';
import { CheckpointReloader } from './checkpoint-reloader.ts';
import { CustomerStore } from './customer-store.ts';
import { ServingMetrics } from './metrics.ts';
import { ModelLoader } from './model-loader.ts';
import { ModelSlot } from './model-slot.ts';
import { RawEventMapper } from './raw-event-mapper.ts';
import { registerJsonBodyParser, unsupportedMediaTypeMessage } from './request-body.ts';
import { registerRoutes, type RequestError } from './routes.ts';
import { readServingRun, type ServingRun } from './run-directory.ts';
import type { RequestLimits } from './schemas.ts';
import type { EngineName } from './scoring-model.ts';
import { describeSchemaError, type SchemaError } from './validation-messages.ts';

/** Defaults of `serve`, each with its reason. */
export const SERVING_DEFAULTS = {
  /** Loopback only: exposing the model to a network is a deliberate choice (--host 0.0.0.0). */
  host: '127.0.0.1',
  port: 8080,
  /** The weights with the best validation NDCG@10, which the trainer promotes as it improves. */
  checkpoint: 'best' as CheckpointKind,
  /**
   * onnxruntime served 2.4 to 3.1 times the batch-1 top-K requests per second of tfjs on
   * wasm (docs/benchmarks.md); tfjs remains the fallback when onnxruntime-node cannot load.
   */
  engine: 'onnx' as EngineName,
  /**
   * One thread per operator: a batch-1 request is too small to split well, and with 2
   * threads onnxruntime's spinning worker thread competed with the HTTP work for the
   * cores, so 2 threads served fewer requests per second than 1 (docs/benchmarks.md).
   */
  onnxThreads: 1,
  /** Enough for a page of recommendations with room to filter; a larger K costs time in the top-K selection and the response. */
  maxK: 100,
  /** 1 MiB contains a few thousand raw events, more than the longest history a model reads. */
  bodyLimit: 1024 * 1024,
  /** A missed fs.watch event delays a reload by at most this long. */
  pollMs: 5_000,
  /** Customer ids longer than this are not ids. */
  maxCustomerIdLength: 256,
} as const;

export interface ServerOptions {
  runDir: string;
  checkpoint?: CheckpointKind;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Dataset config the run's data was ingested with; enables raw-event requests. */
  datasetConfig?: string | null;
  /** Directory the dataset config's catalog path is relative to. */
  dataRoot?: string | null;
  /** tfjs backend, for the tfjs engine and the fallback. */
  backend?: BackendPreference;
  engine?: EngineName;
  /** onnxruntime's threads per operator (intraOpNumThreads). */
  onnxThreads?: number;
  maxK?: number;
  /** Most raw events per request; default the model's maxLength. */
  maxEvents?: number;
  bodyLimit?: number;
  pollMs?: number;
  logger?: Logger;
}

/** A listening server and what it serves. */
export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  app: FastifyInstance;
  run: ServingRun;
  slot: ModelSlot;
  /** The engine the server loads checkpoints on, and why it fell back to tfjs, if it did. */
  loader: ModelLoader;
  reloader: CheckpointReloader;
  metrics: ServingMetrics;
  /** Stops accepting requests, waits for the open ones, and frees the model and DuckDB. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts the HTTP server of a training run. It loads the customer histories of the data
 * the run trained on and the run's checkpoint, or waits for the checkpoint. With a
 * dataset config it also prepares the mapping of raw events. Then it listens.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const logger = options.logger ?? createLogger('serving');
  // The run directory first: a wrong --run fails at once, before the backend loads.
  const run = await readServingRun(options.runDir, options.checkpoint ?? SERVING_DEFAULTS.checkpoint);
  const backend = await initBackend(options.backend ?? 'auto');
  const loader = await ModelLoader.create({
    engine: options.engine ?? SERVING_DEFAULTS.engine,
    onnxThreads: options.onnxThreads ?? SERVING_DEFAULTS.onnxThreads,
    logger,
  });
  logger.info(
    {
      run: run.runDir,
      data: run.dataDir,
      checkpoint: run.checkpointKind,
      engine: loader.engine,
      requestedEngine: loader.requested,
      ...(loader.fallbackReason === null ? {} : { fallbackReason: loader.fallbackReason }),
      ...(loader.engine === 'onnx' ? { onnxThreads: options.onnxThreads ?? SERVING_DEFAULTS.onnxThreads } : {}),
      backend: backend.name,
    },
    'serving started',
  );

  const store = await CustomerStore.load(run.dataDir);
  if (store.data.manifest.fingerprint !== run.manifestFingerprint) {
    throw new Error(
      `${run.dataDir} has fingerprint ${store.data.manifest.fingerprint}, but the run trained on ${run.manifestFingerprint}: ` +
        'the data was ingested again after training; serve a run trained on the current data',
    );
  }
  logger.info({ customers: store.customers, dataset: run.dataset }, 'customer histories loaded');

  const mapper = await openMapper(options, run, store, logger);
  const closeOnError = async (error: unknown): Promise<never> => {
    await mapper?.close();
    throw error;
  };

  const taskValues = new Map<string, readonly string[]>();
  try {
    for (const task of run.modelConfig.tasks) taskValues.set(task.name, await readVocabulary(run.dataDir, task.feature));
  } catch (error) {
    return closeOnError(error);
  }

  const metrics = new ServingMetrics();
  const slot = new ModelSlot();
  const reloader = new CheckpointReloader({
    checkpointsDir: run.checkpointsDir,
    kind: run.checkpointKind,
    slot,
    loader,
    manifestFingerprint: run.manifestFingerprint,
    modelConfig: run.modelConfig,
    pollMs: options.pollMs ?? SERVING_DEFAULTS.pollMs,
    logger,
    onReload: (result, meta) => metrics.observeReload(result, meta?.step ?? null),
  });

  const limits: RequestLimits = {
    maxK: options.maxK ?? SERVING_DEFAULTS.maxK,
    maxEvents: options.maxEvents ?? run.modelConfig.maxLength,
    maxCustomerIdLength: SERVING_DEFAULTS.maxCustomerIdLength,
  };
  const app = await buildApp({ logger, bodyLimit: options.bodyLimit ?? SERVING_DEFAULTS.bodyLimit, metrics });
  registerRoutes(app, { run, store, mapper, slot, metrics, taskValues, limits });

  let closed: Promise<void> | null = null;
  const close = () =>
    (closed ??= (async () => {
      await app.close();
      await reloader.stop();
      slot.close();
      await mapper?.close();
      logger.info({ run: run.runDir }, 'serving stopped');
    })());

  try {
    await reloader.start();
    if (!slot.ready) logger.warn({ checkpoint: run.checkpointsDir, kind: run.checkpointKind }, 'no checkpoint yet: /ready returns 503 until the trainer writes one');
    await app.listen({ host: options.host ?? SERVING_DEFAULTS.host, port: options.port ?? SERVING_DEFAULTS.port });
  } catch (error) {
    await close();
    throw error;
  }

  const address = app.server.address();
  const url = typeof address === 'object' && address !== null ? `http://${formatHost(address.address)}:${address.port}` : String(address);
  logger.info({ url, limits }, 'listening');
  return { url, app, run, slot, loader, reloader, metrics, close };
}

async function openMapper(options: ServerOptions, run: ServingRun, store: CustomerStore, logger: Logger): Promise<RawEventMapper | null> {
  if (options.datasetConfig === undefined || options.datasetConfig === null) {
    logger.info('no --config: requests must name a customer id; raw events are rejected');
    return null;
  }
  const config = await loadDatasetConfig(options.datasetConfig);
  const mapper = await RawEventMapper.open({
    config,
    configSource: options.datasetConfig,
    dataRoot: options.dataRoot === undefined || options.dataRoot === null ? null : resolve(options.dataRoot),
    dataDir: run.dataDir,
    manifest: store.data.manifest,
    logger,
  });
  logger.info({ config: options.datasetConfig, fields: mapper.fields.map((field) => field.name) }, 'raw events enabled');
  return mapper;
}

/** Creates the Fastify instance with strict validation, the OpenAPI document, metrics and error handling. */
async function buildApp(options: { logger: Logger; bodyLimit: number; metrics: ServingMetrics }): Promise<FastifyInstance> {
  const { logger, metrics } = options;
  const app = Fastify({
    loggerInstance: logger,
    // One log line per request at info would dominate the log and cost throughput; onResponse logs at debug.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit,
    ajv: {
      // Reject what the schema does not allow instead of dropping or converting it.
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false, verbose: true, allowUnionTypes: true },
    },
    schemaErrorFormatter: (errors, dataVar) => new Error(describeSchemaError(errors[0] as unknown as SchemaError, dataVar)),
  }) as unknown as FastifyInstance;
  registerJsonBodyParser(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'mcm serving',
        description: 'Top-K predictions and customer embeddings of a pre-trained multi-task customer model (MCM).',
        version: '0.1.0',
      },
      tags: [
        { name: 'predictions', description: 'Model outputs for one customer' },
        { name: 'model', description: 'What is being served' },
        { name: 'operations', description: 'Health, readiness and metrics' },
      ],
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    request.log.debug({ method: request.method, url: request.url, statusCode: reply.statusCode, milliseconds: reply.elapsedTime }, 'request completed');
  });

  app.setNotFoundHandler(async (request, reply) =>
    reply.code(404).send({ statusCode: 404, error: STATUS_CODES[404], message: `route ${request.method} ${request.url} not found; the routes are listed in /openapi.json` }),
  );

  app.setErrorHandler(async (error: FastifyError | RequestError, request, reply) => {
    const statusCode = error.statusCode ?? 500;
    if (statusCode < 500) {
      const message = 'code' in error && error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? unsupportedMediaTypeMessage(request.headers['content-type']) : error.message;
      return reply.code(statusCode).send({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message });
    }
    // The message of an unexpected error may name files or internals, so it goes to the log only.
    request.log.error({ err: error, method: request.method, url: request.url }, 'request failed');
    const message = statusCode === 503 ? error.message : `internal error; the server log has the details under request id ${request.id}`;
    return reply.code(statusCode).send({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, requestId: request.id });
  });
  return app;
}

function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
