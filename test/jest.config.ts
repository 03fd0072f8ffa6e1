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
  maxWorkers: 1,
};

export default config;
