import { resolve } from 'node:path';
import { openDatabase, openEmbeddedDatabase } from '@rungate/persistence';
import type { DataSource } from 'typeorm';
import { option } from './args';

export const DATABASE_USAGE = '[--database URL | --data-dir DIR]';

/**
 * Rungate's own database for a CLI command: `--database URL` or DATABASE_URL (PostgreSQL), or
 * `--data-dir DIR` for the embedded database `rungate serve` keeps in DIR/db (stop serve
 * first: the embedded database has one user at a time). Undefined when neither is given.
 */
export function openCliDatabase(args: readonly string[]): Promise<DataSource> | undefined {
  const dataDir = option(args, '--data-dir');
  if (dataDir) return openEmbeddedDatabase(resolve(dataDir, 'db'));
  const url = option(args, '--database') ?? process.env['DATABASE_URL'];
  return url ? openDatabase(url) : undefined;
}
