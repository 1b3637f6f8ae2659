import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
    // Training and DuckDB tests run real work on 2 cores; the default 5 s is too short.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
