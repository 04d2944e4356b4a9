import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    setupFiles: ['src/node/polyfill.ts'],
    // Multi-process tests spawn real agents; two cores cannot run many of them at once.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: ['test/lab/**'], sequence: { groupOrder: 0 } },
      },
      {
        // Hosts made of network namespaces (test/lab/README.md): after every other tier, one file
        // at a time, so that their timings are not those of a machine running two other tiers.
        extends: true,
        test: {
          name: 'lab', include: ['test/lab/**/*.test.ts'], fileParallelism: false, sequence: { groupOrder: 1 },
          globalSetup: ['test/lab/global-setup.ts'],
        },
      },
    ],
  },
})
