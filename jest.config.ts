import type { Config } from 'jest';
import { getJestProjectsAsync } from '@nx/jest';

export default async (): Promise<Config> => ({
  // testTimeout is a global option: jest reads it here, not from the projects' preset.
  // Unit specs that start git, http servers or child processes take well under a second on an
  // idle machine, but CI machines are shared (two cores, parallel suites): a generous deadline
  // keeps a slow machine from looking like a broken test. Speed is held by bench/, not here.
  testTimeout: 30_000,
  projects: [...(await getJestProjectsAsync()), '<rootDir>/test/jest.unit.config.ts'],
});
