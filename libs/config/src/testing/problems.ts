import { ConfigError, parseConfig } from '../lib/load';

/** The problems a rungate.yaml text is refused with; fails the test if it is accepted. */
export function problems(text: string): { key: string; message: string }[] {
  try {
    parseConfig(text, 'rungate.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}
