/**
 * Timeouts, retry counts and time-to-live values of the distributed run, in one place.
 * Coordinator and workers read them from here. Tests shorten them so that a lost
 * worker is noticed in a second instead of half a minute.
 */
export interface QueuePolicy {
  /**
   * Milliseconds a worker's lock on a gradient job lasts between renewals. A tfjs step
   * blocks the event loop and with it the renewal, so one micro-batch must finish well
   * within this time, or the job is taken for stalled and handed to another worker.
   */
  lockDurationMs: number;
  /** Milliseconds between two checks for jobs whose worker lost its lock (a crashed worker). */
  stalledIntervalMs: number;
  /** Times a job may be recovered from a crashed worker before it fails. */
  maxStalledCount: number;
  /** Attempts of a gradient job that throws (a Redis error during upload, say) before it fails. */
  attempts: number;
  /** First delay of the exponential backoff between two attempts of a failed job. */
  backoffMs: number;
  /** Milliseconds between two heartbeats of a worker. */
  heartbeatIntervalMs: number;
  /** Milliseconds after its last heartbeat at which a worker counts as gone and gets no more shards. */
  heartbeatTtlMs: number;
  /** Lifetime of weights and gradient payloads in Redis, so that a crash leaves no garbage for long. */
  payloadTtlMs: number;
  /** Lifetime of the coordinator's lock without renewal; a second coordinator waits this long for a crashed one. */
  coordinatorLockTtlMs: number;
  /** Times the coordinator re-dispatches one shard of a step (failed, lost or stale) before it gives up on the run. */
  shardRedoLimit: number;
  /** Milliseconds between two checks of the outstanding jobs' states, in case a completion event was missed. */
  pollIntervalMs: number;
  /** First and largest delay between two attempts to reconnect to Redis. */
  reconnectInitialDelayMs: number;
  reconnectMaxDelayMs: number;
  /** Milliseconds the first connection to Redis may take before the process gives up with an error. */
  connectTimeoutMs: number;
}

export const DEFAULT_POLICY: Readonly<QueuePolicy> = {
  // BullMQ's default; a micro-batch of 64 customers on a CPU takes a few seconds at most.
  lockDurationMs: 30_000,
  stalledIntervalMs: 15_000,
  // One recovery, BullMQ's default, would fail a step when two workers crash in a row.
  maxStalledCount: 3,
  attempts: 3,
  backoffMs: 1_000,
  heartbeatIntervalMs: 2_000,
  // Five missed heartbeats: a worker busy in a long micro-batch cannot send one.
  heartbeatTtlMs: 10_000,
  payloadTtlMs: 10 * 60_000,
  coordinatorLockTtlMs: 15_000,
  shardRedoLimit: 5,
  pollIntervalMs: 1_000,
  reconnectInitialDelayMs: 100,
  reconnectMaxDelayMs: 5_000,
  connectTimeoutMs: 5_000,
};

/** Returns the default policy with `overrides` applied; rejects values that cannot work, naming the field. */
export function resolvePolicy(overrides: Partial<QueuePolicy> = {}): QueuePolicy {
  const policy: QueuePolicy = { ...DEFAULT_POLICY, ...overrides };
  for (const [field, value] of Object.entries(policy)) {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`queue policy: ${field} must be a number greater than 0, got ${value}`);
  }
  for (const field of ['maxStalledCount', 'attempts', 'shardRedoLimit'] as const) {
    if (!Number.isInteger(policy[field])) throw new Error(`queue policy: ${field} must be an integer, got ${policy[field]}`);
  }
  if (policy.heartbeatTtlMs <= policy.heartbeatIntervalMs) {
    throw new Error(
      `queue policy: heartbeatTtlMs (${policy.heartbeatTtlMs}) must be greater than heartbeatIntervalMs (${policy.heartbeatIntervalMs}), ` +
        'or every worker counts as gone between two heartbeats',
    );
  }
  if (policy.reconnectMaxDelayMs < policy.reconnectInitialDelayMs) {
    throw new Error(`queue policy: reconnectMaxDelayMs (${policy.reconnectMaxDelayMs}) must be at least reconnectInitialDelayMs (${policy.reconnectInitialDelayMs})`);
  }
  return policy;
}

/** Delay before reconnect attempt `attempt` (1-based): doubling from the initial delay up to the largest. */
export function reconnectDelay(policy: QueuePolicy, attempt: number): number {
  return Math.min(policy.reconnectMaxDelayMs, policy.reconnectInitialDelayMs * 2 ** Math.min(attempt - 1, 30));
}

/**
 * Returns the policy with the overrides in MCM_QUEUE_POLICY (a JSON object of policy
 * fields, e.g. {"lockDurationMs":120000} for a model whose micro-batch takes a minute).
 */
export function policyFromEnvironment(): QueuePolicy {
  const text = process.env.MCM_QUEUE_POLICY;
  if (text === undefined || text.trim() === '') return resolvePolicy();
  let overrides: unknown;
  try {
    overrides = JSON.parse(text);
  } catch {
    throw new Error(`MCM_QUEUE_POLICY is not valid JSON: ${text}`);
  }
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    throw new Error(`MCM_QUEUE_POLICY must be a JSON object of policy fields, got ${text}`);
  }
  for (const field of Object.keys(overrides)) {
    if (!(field in DEFAULT_POLICY)) throw new Error(`MCM_QUEUE_POLICY names "${field}", which is not a policy field; fields: ${Object.keys(DEFAULT_POLICY).join(', ')}`);
  }
  return resolvePolicy(overrides as Partial<QueuePolicy>);
}
