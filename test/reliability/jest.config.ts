import type { Config } from 'jest';

// Reliability suites (issue 20): soak with restarts, executors killed, escaping properties,
// MCP fuzz. `npm test` runs the slice (small sizes); `npm run test:reliability` the full sizes
// (RELIABILITY_PROFILE=full; each size also has its own variable, see sizes.ts). Each suite
// records its figures; the summary reporter prints them as one JSON line.
const preset = require('../../jest.preset.js');

const config: Config = {
  ...preset,
  displayName: 'reliability',
  rootDir: '../..',
  testMatch: ['<rootDir>/test/reliability/**/*.reliability-spec.ts'],
  testTimeout: 30 * 60_000,
  setupFiles: ['<rootDir>/test/support/isolate-subjects.js'],
  globalSetup: '<rootDir>/test/reliability/figures-setup.js',
  reporters: ['default', '<rootDir>/test/reliability/summary-reporter.js'],
  maxWorkers: 1,
};

export default config;
