import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openEmbeddedDatabase } from '@rungate/persistence';
import type { DataSource } from 'typeorm';
import { UsageError } from '../cli/values';
import { DataDirLock } from './lock';

export const embeddedDatabaseDir = (dataDir: string) => join(dataDir, 'db');

/**
 * Runs `work` on the embedded database in `dataDir` while holding the data directory's lock,
 * so no `rungate serve` (or other command) has it open meanwhile. Refuses a directory holding
 * no embedded database rather than making an empty one: a mistyped --data-dir would otherwise
 * answer "no tokens" or "intact: 0 events".
 */
export async function withDataDirDatabase<T>(dataDir: string, command: string, work: (db: DataSource) => Promise<T>): Promise<T> {
  const dir = resolve(dataDir);
  if (!existsSync(join(embeddedDatabaseDir(dir), 'PG_VERSION'))) {
    throw new UsageError(`no embedded database in ${dir} (\`rungate serve --data-dir ${dataDir}\` makes one); for PostgreSQL pass --database or set DATABASE_URL`);
  }
  const lock = DataDirLock.acquire(dir, command);
  try {
    const db = await openEmbeddedDatabase(embeddedDatabaseDir(dir));
    try {
      return await work(db);
    } finally {
      await db.destroy();
    }
  } finally {
    lock.release();
  }
}
