export * from './actions.ts';
export * from './history.ts';
export * from './offers.ts';
export * from './action-head.ts';
export * from './aggregate-features.ts';
export * from './comparison.ts';
export * from './tree-baseline.ts';
