import { resolve } from 'node:path';
import { readEnvironment } from '@rungate/config';

/** The options of every command that works on Rungate's own database. */
export interface DatabaseOptions {
  database?: string;
  dataDir?: string;
}

export type DatabaseTarget = { kind: 'database'; url: string } | { kind: 'data-dir'; dir: string };

export const DEFAULT_DATA_DIR = '.rungate';

/**
 * Where a command finds Rungate's own database: `--database URL`, else `--data-dir DIR` (the
 * embedded database `rungate serve` keeps in DIR/db), else DATABASE_URL, else the embedded
 * default `.rungate`. An explicit flag beats the environment.
 */
export function databaseTarget(options: DatabaseOptions, env: NodeJS.ProcessEnv = process.env): DatabaseTarget {
  if (options.database) return { kind: 'database', url: options.database };
  if (options.dataDir) return { kind: 'data-dir', dir: resolve(options.dataDir) };
  const url = readEnvironment(env).DATABASE_URL;
  return url ? { kind: 'database', url } : { kind: 'data-dir', dir: resolve(DEFAULT_DATA_DIR) };
}
