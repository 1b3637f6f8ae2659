import type { ServerResponse } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '@mcm/common';
import { READ_METHODS, rejectionMessage, requestAccess, TOKEN_COOKIE, tokenMatches, type DashboardAccess } from './access-token.ts';
import { CoordinatorMonitor, type CoordinatorSource, type CoordinatorView } from './coordinator-monitor.ts';
import { loadPageAssets, PAGE_ASSETS, type PageAssetName } from './page-assets.ts';
import { RunMonitor, type RunSnapshot } from './run-monitor.ts';

/** Defaults of the dashboard server, each with its reason. */
export const DASHBOARD_DEFAULTS = {
  /** A small model writes many steps per second; one refresh a second keeps the page live for the cost of reading the appended bytes. */
  pollIntervalMs: 1_000,
  /** Milliseconds before an EventSource whose connection dropped tries again; meanwhile the page shows the run as disconnected. */
  reconnectMs: 2_000,
  /** Path of bull-board on the dashboard server. */
  queueBoardPath: '/queues',
} as const;

export interface DashboardServerOptions {
  runDir: string;
  /** 0 picks a free port. */
  port: number;
  host: string;
  /** Token that allows requests that change state; undefined keeps the dashboard read-only. */
  token?: string;
  logger: Logger;
  /** Mounts bull-board for a distributed run; the queue joins it when the coordinator is attached. */
  queueBoard: boolean;
  /** Budgets of this command line, which win over the stored ones of a resumed run. */
  commandBudget?: { budgetMinutes?: number; maxSteps?: number };
  pollIntervalMs?: number;
}

/** The state the page draws: the run, the coordinator's part and what this request may do. */
export interface DashboardState extends RunSnapshot {
  coordinator: CoordinatorView | null;
  /** Path of bull-board, or null without a queue. */
  queueBoard: string | null;
  access: DashboardAccess;
  updatedAt: string;
}

/** The body of an `update` event: the records added since the stream's previous event and the current figures. */
export interface DashboardUpdate extends Omit<DashboardState, 'steps' | 'validation'> {
  /** Steps and validations that follow those the stream has received. */
  steps: RunSnapshot['steps'];
  validation: RunSnapshot['validation'];
}

/** An open event stream and what it has received. */
interface EventStream {
  response: ServerResponse;
  access: DashboardAccess;
  generation: number;
  steps: number;
  validations: number;
}

/** A listening dashboard. */
export interface RunDashboard {
  /** Base URL, e.g. http://127.0.0.1:8090. */
  url: string;
  port: number;
  /** Shows the coordinator's workers and queue, and adds its queue to bull-board. */
  attachCoordinator(source: CoordinatorSource): void;
  /** Stops reading the coordinator's Redis; call it before the coordinator closes its client. Safe to call twice. */
  detachCoordinator(): Promise<void>;
  /** Ends the open event streams and stops listening. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Serves the live dashboard of a run: the page, its state as JSON on GET /api/state, and
 * a stream of server-sent events on GET /api/events (`snapshot` with the whole state,
 * then `update` with the records added since). With `queueBoard`, bull-board is mounted
 * at /queues. Any request that is not a GET, HEAD or OPTIONS needs the token.
 */
export async function startDashboard(options: DashboardServerOptions): Promise<RunDashboard> {
  const { logger } = options;
  const assets = await loadPageAssets();
  const monitor = new RunMonitor(options.runDir, options.commandBudget);
  const streams = new Set<EventStream>();
  let coordinator: CoordinatorMonitor | null = null;
  let coordinatorView: CoordinatorView | null = null;
  let lastCoordinatorError: string | null = null;

  // Lines already in the logs now belong to earlier invocations; reading them before training starts keeps them off this invocation's clock.
  await monitor.poll();

  const app = Fastify({ logger: false });
  app.addHook('onRequest', async (request, reply) => {
    if (READ_METHODS.has(request.method)) return;
    const access = requestAccess(options.token, request.headers);
    if (access === 'authorized') return;
    logger.warn({ method: request.method, url: request.url, access }, 'dashboard request that would change state rejected');
    await reply.code(403).send({ error: rejectionMessage(access, request.method, request.url) });
  });

  const board = options.queueBoard ? mountQueueBoard(app, options.token === undefined) : null;

  // Serializes the reads of the run directory and Redis, which the timer and the requests share.
  let refreshing: Promise<void> = Promise.resolve();
  const refresh = (): Promise<void> => {
    const next = refreshing.then(async () => {
      await monitor.poll();
      if (coordinator !== null) coordinatorView = await readCoordinator(coordinator);
    });
    refreshing = next.catch(() => undefined);
    return next;
  };
  const readCoordinator = async (source: CoordinatorMonitor): Promise<CoordinatorView | null> => {
    try {
      const view = await source.read();
      lastCoordinatorError = null;
      return view;
    } catch (error) {
      const message = (error as Error).message;
      if (message !== lastCoordinatorError) logger.warn({ error: message }, 'dashboard could not read the coordinator status from Redis; retrying at the next refresh');
      lastCoordinatorError = message;
      return coordinatorView;
    }
  };

  const extras = (access: DashboardAccess) => ({
    coordinator: coordinatorView,
    queueBoard: board === null ? null : DASHBOARD_DEFAULTS.queueBoardPath,
    access,
    updatedAt: new Date().toISOString(),
  });
  const state = (access: DashboardAccess): DashboardState => ({ ...monitor.snapshot(), ...extras(access) });

  app.get<{ Querystring: { token?: string } }>('/', async (request, reply) => {
    const queryToken = request.query.token;
    if (queryToken !== undefined) {
      if (options.token === undefined || !tokenMatches(options.token, queryToken)) {
        return reply.code(403).type('text/plain; charset=utf-8').send('wrong dashboard token: open the dashboard without ?token= to view it read-only');
      }
      // The cookie carries the token on the page's and bull-board's later requests; the redirect drops it from the address bar.
      void reply.header('set-cookie', `${TOKEN_COOKIE}=${encodeURIComponent(queryToken)}; Path=/; HttpOnly; SameSite=Strict`);
      return reply.redirect('/', 303);
    }
    return reply.type(PAGE_ASSETS['dashboard.html'].contentType).send(assets.get('dashboard.html')!.body);
  });

  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());

  app.get<{ Params: { name: string } }>('/assets/:name', async (request, reply) => {
    const asset = assets.get(request.params.name as PageAssetName);
    if (asset === undefined) return reply.code(404).send({ error: `no asset named "${request.params.name}"` });
    return reply.type(asset.contentType).send(asset.body);
  });

  app.get('/api/state', async (request) => {
    await refresh();
    return state(requestAccess(options.token, request.headers));
  });

  app.get('/api/events', async (request, reply) => {
    await refresh();
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    response.write(`retry: ${DASHBOARD_DEFAULTS.reconnectMs}\n\n`);
    const stream: EventStream = { response, access: requestAccess(options.token, request.headers), generation: -1, steps: 0, validations: 0 };
    sendChanges(stream);
    streams.add(stream);
    request.raw.on('close', () => streams.delete(stream));
  });

  /** Sends a stream the whole state when it has none of the current generation, else the records it lacks. */
  const sendChanges = (stream: EventStream) => {
    if (stream.generation !== monitor.generation) {
      sendEvent(stream.response, 'snapshot', state(stream.access));
    } else {
      const added = monitor.recordsAfter(stream.steps, stream.validations);
      const update: DashboardUpdate = {
        description: monitor.runDescription,
        phase: monitor.phase(),
        progress: monitor.progress(),
        ...extras(stream.access),
        steps: added.steps,
        validation: added.validation,
      };
      sendEvent(stream.response, 'update', update);
    }
    stream.generation = monitor.generation;
    stream.steps = monitor.counts.steps;
    stream.validations = monitor.counts.validations;
  };

  if (board === null) {
    app.all(`${DASHBOARD_DEFAULTS.queueBoardPath}*`, async (_request, reply) =>
      reply.code(404).send({ error: 'this run has no queue: bull-board is served by "nx run coordinator:start --dashboard <port>"' }),
    );
  }

  const broadcast = async () => {
    if (streams.size === 0) return;
    await refresh();
    // The progress figures and the workers change with time, so every refresh sends an event.
    for (const stream of streams) sendChanges(stream);
  };
  const timer = setInterval(() => {
    broadcast().catch((error: unknown) => logger.warn({ error: (error as Error).message }, 'dashboard refresh failed; retrying at the next interval'));
  }, options.pollIntervalMs ?? DASHBOARD_DEFAULTS.pollIntervalMs);
  timer.unref();

  try {
    await app.listen({ port: options.port, host: options.host });
  } catch (error) {
    clearInterval(timer);
    throw new Error(`the dashboard cannot listen on ${options.host}:${options.port} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); pass another --dashboard port`, {
      cause: error,
    });
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  logger.info({ url, queueBoard: board === null ? null : `${url}${DASHBOARD_DEFAULTS.queueBoardPath}`, readOnly: options.token === undefined }, 'dashboard listening');

  let detached: Promise<void> | null = null;
  let closed: Promise<void> | null = null;
  const detachCoordinator = () => {
    const current = coordinator;
    detached ??= (async () => {
      coordinator = null;
      if (current === null) return;
      board?.removeQueue(current.queue.name);
      await refreshing;
      await current.close();
    })();
    return detached;
  };

  return {
    url,
    port,
    attachCoordinator: (source) => {
      if (coordinator !== null) throw new Error('the dashboard already shows a coordinator');
      coordinator = new CoordinatorMonitor(source);
      board?.addQueue(new BullMQAdapter(coordinator.queue, { readOnlyMode: options.token === undefined }));
      detached = null;
    },
    detachCoordinator,
    close: () => {
      closed ??= (async () => {
        clearInterval(timer);
        await detachCoordinator();
        for (const stream of streams) stream.response.end();
        streams.clear();
        await app.close();
        logger.info({ url }, 'dashboard stopped');
      })();
      return closed;
    },
  };
}

/** Mounts bull-board at /queues with no queue yet; read-only unless a token is set. */
function mountQueueBoard(app: FastifyInstance, readOnly: boolean): ReturnType<typeof createBullBoard> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(DASHBOARD_DEFAULTS.queueBoardPath);
  const board = createBullBoard({ queues: [], serverAdapter, options: { uiConfig: { boardTitle: readOnly ? 'mcm queue (read-only)' : 'mcm queue' } } });
  void app.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_DEFAULTS.queueBoardPath });
  return board;
}

function sendEvent(stream: ServerResponse, event: string, data: unknown): void {
  stream.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
