import type { CheckpointKind } from '@mcm/training';
import type { EngineName, ScoringModel } from './scoring-model.ts';

/** The checkpoint a loaded model came from. */
export interface CheckpointInfo {
  kind: CheckpointKind;
  /** Optimizer steps the checkpoint was trained for. */
  step: number;
  createdAt: string;
  /** sha256 of the checkpoint's tensor file; with the step it identifies the checkpoint. */
  tensorsSha256: string;
  loadedAt: string;
}

/** A model with its checkpoint, shared by the requests that hold a lease on it. */
interface Entry {
  model: ScoringModel;
  checkpoint: CheckpointInfo;
  leases: number;
  retired: boolean;
}

/** A model borrowed for one request; call `release` when done with it. */
export interface ModelLease {
  model: ScoringModel;
  checkpoint: CheckpointInfo;
  release(): void;
}

/**
 * The model that requests use, replaced atomically on hot reload. A request leases the
 * current model; a swap retires the previous one, which is disposed only after its last
 * lease is released, so a request never sees a disposed model.
 */
export class ModelSlot {
  private current: Entry | null = null;
  private closed = false;

  get ready(): boolean {
    return this.current !== null;
  }

  get checkpoint(): CheckpointInfo | null {
    return this.current?.checkpoint ?? null;
  }

  /** The engine the current model runs on, or null before the first model is loaded. */
  get engine(): EngineName | null {
    return this.current?.model.engine ?? null;
  }

  /** Leases the current model, or returns null before the first model is loaded. */
  acquire(): ModelLease | null {
    const entry = this.current;
    if (entry === null) return null;
    entry.leases++;
    let released = false;
    return {
      model: entry.model,
      checkpoint: entry.checkpoint,
      release: () => {
        if (released) return;
        released = true;
        entry.leases--;
        disposeIfIdle(entry);
      },
    };
  }

  /** Makes `model` the current model and retires the previous one. */
  swap(model: ScoringModel, checkpoint: CheckpointInfo): void {
    if (this.closed) {
      model.dispose();
      return;
    }
    const previous = this.current;
    this.current = { model, checkpoint, leases: 0, retired: false };
    if (previous !== null) retire(previous);
  }

  /** Retires the current model; later swaps dispose their model at once. Safe to call twice. */
  close(): void {
    this.closed = true;
    if (this.current !== null) retire(this.current);
    this.current = null;
  }
}

function retire(entry: Entry): void {
  entry.retired = true;
  disposeIfIdle(entry);
}

function disposeIfIdle(entry: Entry): void {
  if (entry.retired && entry.leases === 0) entry.model.dispose();
}
