export * from './manifest.ts';
export * from './shard-format.ts';
export * from './dataset-config.ts';
