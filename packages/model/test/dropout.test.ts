import * as tf from '@tensorflow/tfjs-core';
import { Random } from '@mcm/common';
import { beforeAll, expect, test } from 'vitest';
import { noDropout, seededDropout } from '../src/dropout.ts';
import { useCpuBackend } from './helpers.ts';

beforeAll(useCpuBackend);

test('multipliers match tf.dropout of ones', () => {
  const shape = [3, 4, 5];
  const multipliers = seededDropout(new Random(4)).multipliers(shape, 0.3)!;
  const ones = tf.ones(shape);
  const dropped = seededDropout(new Random(4))(ones, 0.3);

  const values = Array.from(multipliers.dataSync());
  expect(multipliers.shape).toEqual(shape);
  expect(values).toEqual(Array.from(dropped.dataSync()));
  expect(values.filter((value) => value === 0).length, 'dropped values').toBeGreaterThan(0);
  expect(values.filter((value) => Math.abs(value - 1 / 0.7) < 1e-6).length, 'kept values, scaled').toBe(values.filter((value) => value !== 0).length);
  tf.dispose([multipliers, ones, dropped]);
});

test('multipliers absent without dropout', () => {
  const random = new Random(9);
  expect(seededDropout(random).multipliers([2, 3], 0)).toBeUndefined();
  expect(random.nextUint32(), 'rate 0 draws no seed').toBe(new Random(9).nextUint32());
  expect(noDropout.multipliers([2, 3], 0.5)).toBeUndefined();
});
