import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/log-file.ts'],
    // One Temporal worker per file is plenty for a 2-core machine; files run one after another.
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', KAFKAJS_NO_PARTITIONER_WARNING: '1' },
  },
});
