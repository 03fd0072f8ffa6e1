import type { Config } from 'jest';

// Integration tests talk to the real NATS and PostgreSQL on loopback. Each test file makes
// its own database and its own subjects/streams, so files run in parallel safely.
const preset = require('./jest.preset.js');

const config: Config = {
  ...preset,
  displayName: 'integration',
  rootDir: '.',
  testMatch: ['<rootDir>/{apps,libs,test}/**/*.integration-spec.ts'],
  testTimeout: 60_000,
  setupFiles: ['<rootDir>/test/support/isolate-subjects.js'],
  maxWorkers: 2,
};

export default config;
