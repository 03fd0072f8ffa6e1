import { mkdirSync } from 'node:fs';
import type { DataSource } from 'typeorm';
import { openDatabase } from './data-source';

/**
 * Rungate's own database embedded in the process (PGlite, PostgreSQL compiled to WASM), for
 * the all-in-one mode: the same schema and migrations as a PostgreSQL server. One instance
 * per process; `dataDir` undefined keeps it in memory.
 */
export async function openEmbeddedDatabase(dataDir: string | undefined): Promise<DataSource> {
  if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Loaded on demand: the distributed services never need the WASM build.
  const { PGliteDriver } = await import('typeorm-pglite');
  return openDatabase(undefined, { driver: new PGliteDriver(dataDir ? { dataDir } : {}).driver, extra: {} });
}
