import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { openDatabase } from './data-source';

/**
 * What a new embedded data directory starts from: an initialized cluster packed as a tar
 * (see scripts/pglite-template.js), so PGlite unpacks it instead of running initdb. Only for
 * a directory that holds no cluster yet; undefined when there is no template to use.
 */
export function pgliteTemplate(dataDir: string | undefined, template: string | undefined): Blob | undefined {
  if (!dataDir || !template || existsSync(join(dataDir, 'PG_VERSION')) || !existsSync(template)) return undefined;
  return new Blob([readFileSync(template)]);
}

/**
 * Rungate's own database embedded in the process (PGlite, PostgreSQL compiled to WASM), for
 * the all-in-one mode: the same schema and migrations as a PostgreSQL server. One instance
 * per process; `dataDir` undefined keeps it in memory.
 */
export async function openEmbeddedDatabase(dataDir: string | undefined, template?: string): Promise<DataSource> {
  if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const loadDataDir = pgliteTemplate(dataDir, template);
  // Loaded on demand: the distributed services never need the WASM build.
  const { PGliteDriver } = await import('typeorm-pglite');
  const driver = new PGliteDriver({ ...(dataDir ? { dataDir } : {}), ...(loadDataDir ? { loadDataDir } : {}) }).driver;
  return openDatabase(undefined, { driver, extra: {} });
}
