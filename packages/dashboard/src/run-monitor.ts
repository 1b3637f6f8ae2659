import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { JsonLinesTail } from './json-lines-tail.ts';
import { estimateProgress, type RunProgress } from './run-progress.ts';
import { readJsonIfExists, STEPS_FILE, toStepPoint, toValidationPoint, VALIDATION_FILE, type StepPoint, type ValidationPoint } from './run-records.ts';

/** The run configuration that the dashboard shows. */
export interface RunDescription {
  run: string;
  runDir: string;
  /** The --model name; null until config.json exists. */
  model: string | null;
  dataset: string | null;
  /** The trained tasks, in the order of the configuration's task weights. */
  tasks: string[];
  /** The tfjs backend, known once the first checkpoint is written. */
  backend: string | null;
  maxSteps: number | null;
  budgetMinutes: number | null;
}

/** Phase of a run: before its first step in this invocation, training, or evaluated. */
export type RunPhase = 'starting' | 'training' | 'finished';

/** The full state of the run as the page draws it. */
export interface RunSnapshot {
  description: RunDescription;
  phase: RunPhase;
  steps: StepPoint[];
  validation: ValidationPoint[];
  progress: RunProgress;
}

/** The records added since the previous poll; `reset` is true when the logs were rewritten (a resumed run) and the page must reload the snapshot. */
export interface RunChanges {
  reset: boolean;
  steps: StepPoint[];
  validation: ValidationPoint[];
}

/** The parts of config.json the dashboard reads. */
interface StoredRunConfig {
  model?: string;
  dataset?: string;
  training?: { taskWeights?: Record<string, number>; maxSteps?: number; budgetMinutes?: number } | null;
}

/**
 * Follows a run directory while a trainer writes it: steps.jsonl, validation.jsonl,
 * config.json, the last checkpoint's metadata and metrics.json. Lines already in the
 * logs when the monitor starts, and the lines of a rewritten log, belong to earlier
 * invocations: they are shown but do not start this invocation's clock.
 */
export class RunMonitor {
  private readonly stepsTail: JsonLinesTail<Record<string, unknown>>;
  private readonly validationTail: JsonLinesTail<Record<string, unknown>>;
  private readonly startedAt = Date.now();
  private steps: StepPoint[] = [];
  private validation: ValidationPoint[] = [];
  private description: RunDescription;
  private trainingStartedAt: number | null = null;
  private firstRead = true;
  private finished = false;
  private resets = 0;

  /**
   * `commandBudget` contains the budgets of this command line. A resumed run keeps the
   * config.json of its start, but trains with this command line's time budget, and with
   * its step budget when one is given, so these win over the stored ones.
   */
  constructor(
    readonly runDir: string,
    private readonly commandBudget: { budgetMinutes?: number; maxSteps?: number } = {},
  ) {
    this.stepsTail = new JsonLinesTail(join(runDir, STEPS_FILE));
    this.validationTail = new JsonLinesTail(join(runDir, VALIDATION_FILE));
    this.description = { run: basename(runDir), runDir, model: null, dataset: null, tasks: [], backend: null, maxSteps: null, budgetMinutes: null };
  }

  /** Reads what the trainer wrote since the previous poll. */
  async poll(): Promise<RunChanges> {
    await this.readDescription();

    const stepRead = await this.stepsTail.read();
    const validationRead = await this.validationTail.read();
    const reset = stepRead.reset || validationRead.reset;
    const steps = stepRead.records.map(toStepPoint).filter((point) => point !== null);
    const validation = validationRead.records.map(toValidationPoint).filter((point) => point !== null);

    if (reset) this.resets++;
    if (stepRead.reset) this.steps = [];
    if (validationRead.reset) this.validation = [];
    this.steps.push(...steps);
    this.validation.push(...validation);

    const fromThisInvocation = !this.firstRead && !stepRead.reset && steps.length > 0;
    if (fromThisInvocation && this.trainingStartedAt === null) {
      const stepSeconds = steps.reduce((sum, point) => sum + (Number.isFinite(point.seconds) ? point.seconds : 0), 0);
      this.trainingStartedAt = Date.now() - stepSeconds * 1000;
    }
    this.firstRead = false;
    this.finished ||= await this.metricsWrittenSinceStart();
    return { reset, steps, validation };
  }

  snapshot(now = Date.now()): RunSnapshot {
    return {
      description: { ...this.description },
      phase: this.phase(),
      steps: [...this.steps],
      validation: [...this.validation],
      progress: this.progress(now),
    };
  }

  /** Counts the rewrites of the logs; records sent before the latest one are void. */
  get generation(): number {
    return this.resets;
  }

  /** Returns the steps and validations after the first `steps` and `validations` of the current generation. */
  recordsAfter(steps: number, validations: number): { steps: StepPoint[]; validation: ValidationPoint[] } {
    return { steps: this.steps.slice(steps), validation: this.validation.slice(validations) };
  }

  get counts(): { steps: number; validations: number } {
    return { steps: this.steps.length, validations: this.validation.length };
  }

  progress(now = Date.now()): RunProgress {
    return estimateProgress(this.steps, this.description, this.trainingStartedAt, now);
  }

  phase(): RunPhase {
    if (this.finished) return 'finished';
    return this.trainingStartedAt === null ? 'starting' : 'training';
  }

  get runDescription(): RunDescription {
    return { ...this.description };
  }

  /** Fills in the description from config.json and the last checkpoint until both are known. */
  private async readDescription(): Promise<void> {
    if (this.description.model === null) {
      const config = await readJsonIfExists<StoredRunConfig>(join(this.runDir, 'config.json'));
      if (config !== null) {
        this.description.model = config.model ?? null;
        this.description.dataset = config.dataset ?? null;
        this.description.tasks = Object.keys(config.training?.taskWeights ?? {});
        this.description.maxSteps = this.commandBudget.maxSteps ?? config.training?.maxSteps ?? null;
        this.description.budgetMinutes = this.commandBudget.budgetMinutes ?? config.training?.budgetMinutes ?? null;
      }
    }
    if (this.description.backend === null) {
      const last = await readJsonIfExists<{ training?: { extra?: { backend?: string } } }>(join(this.runDir, 'checkpoints', 'last.json'));
      this.description.backend = last?.training?.extra?.backend ?? null;
    }
  }

  private async metricsWrittenSinceStart(): Promise<boolean> {
    try {
      return (await stat(join(this.runDir, 'metrics.json'))).mtimeMs >= this.startedAt;
    } catch {
      return false;
    }
  }
}
