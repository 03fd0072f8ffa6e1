import { createTestDatabase, type TestDatabase } from '@rungate/testing';
import { Client as PgClient } from 'pg';

/** A runbook that writes one row of `notes` and says how many times it was written: a run that executed twice shows. */
export const SET_NOTE = `-- @description Set a note
UPDATE notes SET body = '{{ .body }}', writes = writes + 1 WHERE id = {{ .id | type "number" }} RETURNING id, body, writes;
`;

/** A target database whose `notes` rows 1–20 say `initial`, written 0 times; `note(id)` reads one back. */
export interface NotesTarget {
  db: TestDatabase;
  query<T extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  note(id: number): Promise<{ body: string; writes: number } | undefined>;
}

export async function createNotesTarget(prefix: string): Promise<NotesTarget> {
  const db = await createTestDatabase(prefix);
  async function query<T extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new PgClient({ connectionString: db.url });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }
  await query("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL, writes int NOT NULL DEFAULT 0); INSERT INTO notes (id, body) SELECT g, 'initial' FROM generate_series(1, 20) g;");
  return { db, query, note: async (id) => (await query<{ body: string; writes: number }>('SELECT body, writes FROM notes WHERE id = $1', [id]))[0] };
}
