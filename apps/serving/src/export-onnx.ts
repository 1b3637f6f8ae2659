import { join } from 'node:path';
import { writeFileAtomic, type Logger } from '@mcm/common';
import { exportOnnxModel, type ModelConfig } from '@mcm/model';
import { loadCheckpoint, type CheckpointKind } from '@mcm/training';
import { readServingRun } from './run-directory.ts';

export interface ExportOnnxOptions {
  runDir: string;
  checkpoint: CheckpointKind;
  /** Output file; default `<run>/model.onnx`. */
  out?: string;
  logger: Logger;
}

/** The file `exportRunToOnnx` wrote: its path, its size and the checkpoint step. */
export interface OnnxExportResult {
  path: string;
  bytes: number;
  step: number;
}

/**
 * Writes a run's checkpoint as an ONNX model file, for onnxruntime or any other ONNX
 * runtime outside the server. The server itself does not read this file: it exports each
 * checkpoint in memory as it loads it, so a hot-reloaded checkpoint never meets a stale
 * file.
 */
export async function exportRunToOnnx(options: ExportOnnxOptions): Promise<OnnxExportResult> {
  const run = await readServingRun(options.runDir, options.checkpoint);
  const checkpoint = await loadCheckpoint(run.checkpointsDir, options.checkpoint);

  const bytes = exportOnnxModel(checkpoint.meta.modelConfig as ModelConfig, checkpoint.weights, {
    metadata: { 'mcm.step': String(checkpoint.meta.step), 'mcm.tensorsSha256': checkpoint.meta.tensorsSha256, 'mcm.dataset': run.dataset },
  });
  const path = options.out ?? join(run.runDir, 'model.onnx');
  await writeFileAtomic(path, bytes);

  options.logger.info({ run: run.runDir, checkpoint: options.checkpoint, step: checkpoint.meta.step, path, bytes: bytes.length }, 'ONNX model written');
  return { path, bytes: bytes.length, step: checkpoint.meta.step };
}
