import type { Config } from 'jest';

// End-to-end: every service as its own built process (dist/), driven by the MCP SDK client.
const preset = require('../jest.preset.js');

const config: Config = {
  ...preset,
  displayName: 'e2e',
  rootDir: '..',
  testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
  testTimeout: 120_000,
  setupFiles: ['<rootDir>/test/support/isolate-subjects.js'],
  // Two files at a time: every file has its own subject namespace (isolate-subjects.js), ports
  // from freePort, its own databases and private NATS servers where it stops one; most of an
  // e2e file's time is waiting on child processes, so two halve the suite on two cores.
  maxWorkers: 2,
};

export default config;
