import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '@mcm/common';
import { createModelConfig, CustomerModel, initBackend, type ModelConfig, type ModelWeights } from '@mcm/model';
import { ModelLoader } from '../src/model-loader.ts';
import { warmUpBatch } from '../src/scoring-model.ts';

/** Creates a logger that keeps the message and level of every warning and error. */
function recordingLogger(): { logger: Logger; lines: Array<{ level: string; message: string }> } {
  const lines: Array<{ level: string; message: string }> = [];
  const record = (level: string) => (_bindings: unknown, message?: string) => lines.push({ level, message: message ?? '' });
  const logger = { warn: record('warn'), error: record('error'), info: () => {}, debug: () => {} } as unknown as Logger;
  return { logger, lines };
}

const config: ModelConfig = createModelConfig({
  features: [{ name: 'item', kind: 'single', vocabularySize: 12 }],
  tasks: [{ name: 'item', feature: 'item', vocabularySize: 12 }],
  maxLength: 8,
  hidden: 8,
  heads: 2,
  layers: 1,
  ffnWidth: 16,
});
let weights: ModelWeights;
const source = { step: 3, tensorsSha256: 'abc' };

beforeAll(async () => {
  await initBackend('wasm');
  const model = CustomerModel.create(config, 1);
  weights = model.getWeights();
  model.dispose();
});

describe('ModelLoader', () => {
  it('loads onnx by default', async () => {
    const { logger, lines } = recordingLogger();
    const loader = await ModelLoader.create({ engine: 'onnx', onnxThreads: 1, logger });
    expect(loader.engine).toBe('onnx');
    expect(loader.fallbackReason).toBeNull();

    const model = await loader.load(config, weights, source);
    expect(model.engine).toBe('onnx');
    expect((await model.scores(warmUpBatch(config), 'item')).length).toBe(12);
    model.dispose();
    expect(lines).toEqual([]);
  });

  it('falls back to tfjs when onnxruntime cannot load', async () => {
    const { logger, lines } = recordingLogger();
    const importRuntime = () => Promise.reject(new Error('libonnxruntime.so.1: cannot open shared object file'));
    const loader = await ModelLoader.create({ engine: 'onnx', onnxThreads: 1, logger, importRuntime });

    expect(loader.requested).toBe('onnx');
    expect(loader.engine).toBe('tfjs');
    expect(loader.fallbackReason).toMatch(/onnxruntime-node could not be loaded: libonnxruntime\.so\.1/);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe('warn');
    expect(lines[0]!.message).toMatch(/serving with tfjs instead of onnx/);

    const model = await loader.load(config, weights, source);
    expect(model.engine).toBe('tfjs');
    model.dispose();
  });

  it('falls back to tfjs for a checkpoint onnxruntime rejects', async () => {
    const { logger, lines } = recordingLogger();
    // The real runtime, except that creating a session fails as it does for a model it cannot run.
    const rejecting = {
      ...ort,
      InferenceSession: { create: () => Promise.reject(new Error('Load model failed: unsupported operator')) },
    };
    const loader = await ModelLoader.create({ engine: 'onnx', onnxThreads: 1, logger, importRuntime: async () => rejecting });
    expect(loader.engine).toBe('onnx');

    const model = await loader.load(config, weights, source);
    expect(model.engine).toBe('tfjs');
    expect(lines).toEqual([{ level: 'error', message: 'exporting the checkpoint to onnxruntime failed; serving this checkpoint with tfjs' }]);
    model.dispose();
  });

  it('loads tfjs without onnxruntime', async () => {
    const { logger } = recordingLogger();
    let imported = false;
    const loader = await ModelLoader.create({ engine: 'tfjs', onnxThreads: 1, logger, importRuntime: async () => ((imported = true), ort) });
    expect(loader.engine).toBe('tfjs');
    expect(imported).toBe(false);
    const model = await loader.load(config, weights, source);
    expect(model.engine).toBe('tfjs');
    model.dispose();
  });
});
