import { defineConfig } from 'vitest/config';

// Two projects, split by directory:
// - unit: everything outside test/integration/. Needs neither root nor the conntrack kernel
//   module: recorded kernel bytes, fixture /proc trees, fake sockets, the real CLI on fixtures,
//   the chart, rules and dashboards. `npm run test:unit` runs only these.
// - kernel: test/integration/. Root, the real kernel, throwaway namespaces, the conntrack CLI as
//   the oracle. Runs after the unit project, never alongside it.
// `npm test` runs both.
const shared = {
  // Kernel integration tests share the machine-global nf_conntrack_max and spawn processes:
  // run files one at a time so a table-full test never races another test's namespace.
  fileParallelism: false,
  testTimeout: 60_000,
  hookTimeout: 60_000,
};

export default defineConfig({
  test: {
    reporters: ['default', 'json'],
    outputFile: { json: '.tmp/vitest-results.json' },
    projects: [
      {
        test: {
          ...shared,
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'kernel',
          include: ['test/integration/**/*.test.ts'],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
