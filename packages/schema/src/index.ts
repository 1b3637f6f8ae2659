export * from './manifest.ts';
export * from './shard-format.ts';
