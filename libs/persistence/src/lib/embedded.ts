import { mkdirSync } from 'node:fs';
import type { DataSource } from 'typeorm';
import { openDatabase } from './data-source';
import { PGliteThread } from './pglite-worker';

export { pgliteTemplate } from './embedded-template';

/**
 * Rungate's own database embedded in the process (PGlite, PostgreSQL compiled to WASM), for
 * the all-in-one mode: the same schema and migrations as a PostgreSQL server. One instance
 * per process, in a worker thread of its own (PGliteThread); `dataDir` undefined keeps it in
 * memory.
 */
export async function openEmbeddedDatabase(dataDir: string | undefined, template?: string): Promise<DataSource> {
  if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const thread = await PGliteThread.start({ ...(dataDir ? { dataDir } : {}), ...(template ? { template } : {}) });
  try {
    const db = await openDatabase(undefined, { driver: thread.driver(), extra: {} });
    thread.serves(db);
    return db;
  } catch (error) {
    await thread.close().catch(() => undefined);
    throw error;
  }
}
