/** What pglite-worker.ts and the thread it starts (pglite-thread.ts) send each other. */

/** The thread's workerData. */
export interface ThreadStart {
  /** The data directory; undefined keeps the database in memory. */
  dataDir?: string;
  /** An initialized-cluster tar for a new data directory (see pgliteTemplate). */
  template?: string;
}

export type ThreadRequest =
  | { id: number; op: 'query'; sql: string; params?: unknown[] }
  | { id: number; op: 'close' };

/** PGlite's own result shape, which typeorm reads as it reads typeorm-pglite's. */
export interface ThreadResult {
  rows: unknown[];
  fields?: unknown[];
  affectedRows?: number;
}

/** Id 0 answers the start: the database is open, or why it is not. */
export interface ThreadReply {
  id: number;
  result?: ThreadResult;
  error?: { message: string; name?: string; [field: string]: unknown };
}
