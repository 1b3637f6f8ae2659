export * from './sequence-batch.ts';
