import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Integration suites share the real MariaDB/PostgreSQL services; files run in parallel
    // but each uses its own database/schema.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
