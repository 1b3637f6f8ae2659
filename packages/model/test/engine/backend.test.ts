import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, test } from 'vitest';
import { initBackend, type BackendPreference } from '../../src/engine/backend.ts';

const require = createRequire(import.meta.url);

function isInstalled(specifier: string): boolean {
  try {
    require.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}

const savedBackendVariable = process.env.MCM_BACKEND;

afterEach(() => {
  if (savedBackendVariable === undefined) delete process.env.MCM_BACKEND;
  else process.env.MCM_BACKEND = savedBackendVariable;
});

describe('initBackend', () => {
  test('auto takes the fastest backend that loads', async () => {
    delete process.env.MCM_BACKEND;
    const choice = await initBackend();
    const nodeInstalled = isInstalled('@tensorflow/tfjs-node-gpu') || isInstalled('@tensorflow/tfjs-node');

    expect(choice.name).toBe(nodeInstalled ? 'tensorflow' : 'wasm');
    expect(tf.getBackend()).toBe(choice.name);
    if (!nodeInstalled) {
      expect(choice.skipped.map((skip) => skip.candidate)).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
      expect(choice.skipped[0]!.reason).toBe('@tensorflow/tfjs-node-gpu is not installed');
      expect(choice.reason).toMatch(/unavailable; WebAssembly with XNNPACK/);
    }
  });

  test('wasm gets the training kernels', async () => {
    const choice = await initBackend('wasm');
    expect(choice.name).toBe('wasm');
    expect(tf.getKernel(tf.UnsortedSegmentSum, 'wasm')).toBeDefined();
  });

  test('argument selects cpu', async () => {
    const choice = await initBackend('cpu');
    expect(choice).toMatchObject({ name: 'cpu', skipped: [] });
    expect(choice.reason).toMatch(/^requested by the caller/);
    expect(tf.getBackend()).toBe('cpu');
  });

  test('MCM_BACKEND overrides auto', async () => {
    process.env.MCM_BACKEND = 'cpu';
    const choice = await initBackend('auto');
    expect(choice.name).toBe('cpu');
    expect(choice.reason).toMatch(/^requested by MCM_BACKEND/);
  });

  test('argument overrides MCM_BACKEND', async () => {
    process.env.MCM_BACKEND = 'cpu';
    const choice = await initBackend('wasm');
    expect(choice.name).toBe('wasm');
  });

  test('invalid MCM_BACKEND rejected', async () => {
    process.env.MCM_BACKEND = 'webgl';
    await expect(initBackend()).rejects.toThrow(/invalid MCM_BACKEND 'webgl'; expected one of auto, tensorflow, wasm, cpu/);
  });

  test('invalid argument rejected', async () => {
    await expect(initBackend('gpu' as BackendPreference)).rejects.toThrow(/invalid backend preference 'gpu'/);
  });

  test.skipIf(isInstalled('@tensorflow/tfjs-node-gpu') || isInstalled('@tensorflow/tfjs-node'))(
    'tensorflow without tfjs-node fails with the fix',
    async () => {
      await expect(initBackend('tensorflow')).rejects.toThrow(
        /tfjs backend 'tensorflow' was requested but could not be loaded \(@tensorflow\/tfjs-node-gpu: @tensorflow\/tfjs-node-gpu is not installed; .*\); install it/,
      );
    },
  );
});
