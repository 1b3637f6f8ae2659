import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ReloadResult } from './checkpoint-reloader.ts';

/**
 * Latency buckets in seconds: 0.5 ms to 5 s. A top-K response for a stored customer
 * takes milliseconds, and the upper buckets catch requests stalled by a model load.
 */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The Prometheus metrics of one server, in a registry of its own so that several servers in one process do not collide. */
export class ServingMetrics {
  readonly registry = new Registry();
  private readonly duration: Histogram<'method' | 'route' | 'status_code'>;
  private readonly requests: Counter<'method' | 'route' | 'status_code'>;
  private readonly errors: Counter<'method' | 'route' | 'status_code'>;
  private readonly reloads: Counter<'result'>;
  private readonly checkpointStep: Gauge;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'mcm_serving_' });
    const registers = [this.registry];
    const labelNames = ['method', 'route', 'status_code'] as const;
    this.duration = new Histogram({
      name: 'mcm_serving_request_duration_seconds',
      help: 'Time from receiving a request to sending its response, by route.',
      labelNames,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.requests = new Counter({ name: 'mcm_serving_requests_total', help: 'Responses sent, by route and status code.', labelNames, registers });
    this.errors = new Counter({
      name: 'mcm_serving_request_errors_total',
      help: 'Responses with a status code of 400 or more, by route and status code.',
      labelNames,
      registers,
    });
    this.reloads = new Counter({
      name: 'mcm_serving_checkpoint_loads_total',
      help: 'Attempts to load a new checkpoint, by result (loaded or failed).',
      labelNames: ['result'],
      registers,
    });
    this.checkpointStep = new Gauge({ name: 'mcm_serving_checkpoint_step', help: 'Training step of the checkpoint being served; -1 before the first load.', registers });
    this.checkpointStep.set(-1);
  }

  /** Records one response; `route` is the route pattern, so ids in paths do not create label values. */
  observeRequest(method: string, route: string, statusCode: number, seconds: number): void {
    const labels = { method, route, status_code: String(statusCode) };
    this.duration.observe(labels, seconds);
    this.requests.inc(labels);
    if (statusCode >= 400) this.errors.inc(labels);
  }

  observeReload(result: ReloadResult, step: number | null): void {
    this.reloads.inc({ result });
    if (result === 'loaded' && step !== null) this.checkpointStep.set(step);
  }
}
