import { existsSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@mcm/common';
import type { ModelConfig } from '@mcm/model';
import { loadCheckpoint, readCheckpointMeta, type CheckpointKind, type CheckpointMeta } from '@mcm/training';
import type { ModelLoader } from './model-loader.ts';
import type { ModelSlot } from './model-slot.ts';

/** Outcome of one attempt to load a new checkpoint, for metrics. */
export type ReloadResult = 'loaded' | 'failed';

export interface CheckpointReloaderOptions {
  checkpointsDir: string;
  kind: CheckpointKind;
  slot: ModelSlot;
  /** Builds each checkpoint's model on the server's engine. */
  loader: ModelLoader;
  /** Fingerprint of the ingest output the server's customer histories come from. */
  manifestFingerprint: string;
  /** The run's model config; a checkpoint must have the same features, tasks and maxLength. */
  modelConfig: ModelConfig;
  /** Milliseconds between two reads of the checkpoint's JSON, for file systems where fs.watch misses changes. */
  pollMs: number;
  logger: Logger;
  onReload?: (result: ReloadResult, checkpoint: CheckpointMeta | null) => void;
}

/** Milliseconds to wait after a file event, so that a burst of events (temporary file, rename, cleanup) triggers one check. */
const WATCH_DEBOUNCE_MS = 50;

/**
 * Watches a run's `best` (or `last`) checkpoint and loads every new version into the
 * model slot. The trainer writes the checkpoint's JSON last, by an atomic rename, so a
 * changed JSON names a complete tensor file. Changes are noticed by fs.watch on the
 * checkpoint directory and, as a fallback, by reading the JSON every `pollMs`.
 *
 * Loading runs in the background while the previous model keeps serving requests; a
 * checkpoint that fails to load is logged and skipped, and the previous model stays.
 */
export class CheckpointReloader {
  private watcher: FSWatcher | null = null;
  /** Set when fs.watch failed once; polling alone then notices changes. */
  private watchFailed = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private debounceTimer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private pending = false;
  private stopped = false;
  /** Identity (step and tensor sha256) of the checkpoint in the slot, or of the last one that failed to load. */
  private seen: string | null = null;

  constructor(private readonly options: CheckpointReloaderOptions) {}

  /** Loads the checkpoint if it exists, then starts watching. A missing checkpoint is waited for. */
  async start(): Promise<void> {
    await this.check();
    if (this.stopped) return;
    this.startWatching();
    this.pollTimer = setInterval(() => {
      // A run that had no checkpoint directory at start gets watched once it has one.
      if (this.watcher === null && !this.watchFailed) this.startWatching();
      void this.check();
    }, this.options.pollMs);
    this.pollTimer.unref();
  }

  /** Reads the checkpoint's JSON and loads it when it changed; concurrent calls coalesce into one more check. */
  check(): Promise<void> {
    if (this.running !== null) {
      this.pending = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.pending = false;
        await this.checkOnce();
      } while (this.pending && !this.stopped);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Stops watching and polling and waits for a load in progress. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    if (this.debounceTimer !== null) clearTimeout(this.debounceTimer);
    await this.running;
  }

  private async checkOnce(): Promise<void> {
    const { checkpointsDir, kind, logger } = this.options;
    let meta: CheckpointMeta | null;
    try {
      meta = await readCheckpointMeta(checkpointsDir, kind);
    } catch (error) {
      logger.error({ err: error, checkpoint: join(checkpointsDir, `${kind}.json`) }, 'checkpoint JSON could not be read; keeping the current model');
      return;
    }
    if (meta === null) {
      if (!this.options.slot.ready) logger.debug({ checkpoint: join(checkpointsDir, `${kind}.json`) }, 'waiting for the first checkpoint');
      return;
    }

    const identity = `${meta.step}:${meta.tensorsSha256}`;
    if (identity === this.seen || this.stopped) return;
    this.seen = identity;
    await this.load(meta);
  }

  private async load(meta: CheckpointMeta): Promise<void> {
    const { checkpointsDir, kind, logger, slot } = this.options;
    const start = performance.now();
    try {
      this.assertCompatible(meta);
      const checkpoint = await loadCheckpoint(checkpointsDir, kind);
      // The tensor file may already hold a newer checkpoint than the JSON read before.
      this.seen = `${checkpoint.meta.step}:${checkpoint.meta.tensorsSha256}`;

      const model = await this.options.loader.load(checkpoint.meta.modelConfig as ModelConfig, checkpoint.weights, checkpoint.meta);
      if (this.stopped) {
        model.dispose();
        return;
      }

      const previous = slot.checkpoint;
      slot.swap(model, {
        kind,
        step: checkpoint.meta.step,
        createdAt: checkpoint.meta.createdAt,
        tensorsSha256: checkpoint.meta.tensorsSha256,
        loadedAt: new Date().toISOString(),
      });
      logger.info(
        { kind, step: checkpoint.meta.step, previousStep: previous?.step ?? null, engine: model.engine, milliseconds: Math.round(performance.now() - start) },
        previous === null ? 'model loaded' : 'model reloaded',
      );
      this.options.onReload?.('loaded', checkpoint.meta);
    } catch (error) {
      logger.error({ err: error, kind, step: meta.step, checkpointsDir }, 'checkpoint failed to load; keeping the current model');
      this.options.onReload?.('failed', meta);
    }
  }

  /** Rejects a checkpoint whose data or model shape differs from what the server was started with. */
  private assertCompatible(meta: CheckpointMeta): void {
    const { manifestFingerprint, modelConfig } = this.options;
    if (meta.manifestFingerprint !== manifestFingerprint) {
      throw new Error(
        `checkpoint step ${meta.step} was trained on data with fingerprint ${meta.manifestFingerprint}, but the served customer ` +
          `histories have ${manifestFingerprint}; restart the server to serve a run on new data`,
      );
    }
    const config = meta.modelConfig as ModelConfig;
    const shape = (c: ModelConfig) => JSON.stringify({ features: c.features, tasks: c.tasks, maxLength: c.maxLength });
    if (shape(config) !== shape(modelConfig)) {
      throw new Error(`checkpoint step ${meta.step} has other features, tasks or maxLength than the run's config.json; restart the server to serve it`);
    }
  }

  private startWatching(): void {
    const { checkpointsDir, kind, logger } = this.options;
    if (!existsSync(checkpointsDir)) return;
    try {
      this.watcher = watch(checkpointsDir, { persistent: false }, (_event, file) => {
        if (file !== null && file !== `${kind}.json`) return;
        if (this.debounceTimer !== null) clearTimeout(this.debounceTimer);
        this.debounceTimer = setTimeout(() => void this.check(), WATCH_DEBOUNCE_MS);
      });
      this.watcher.on('error', (error) => {
        logger.warn({ err: error, checkpointsDir }, 'watching the checkpoint directory failed; polling continues');
        this.watchFailed = true;
        this.watcher?.close();
        this.watcher = null;
      });
    } catch (error) {
      this.watchFailed = true;
      logger.warn({ err: error, checkpointsDir, pollMs: this.options.pollMs }, 'cannot watch the checkpoint directory; polling it instead');
    }
  }
}
