/** What pglite-worker.ts and the thread it starts (pglite-thread.ts) send each other. */

/** The thread's workerData. */
export interface ThreadStart {
  /** The data directory; undefined keeps the database in memory. */
  dataDir?: string;
  /** An initialized-cluster tar for a new data directory (see pgliteTemplate). */
  template?: string;
}

/** One statement of a transaction the thread runs whole (PGliteThread.transaction). */
export interface ThreadStatement {
  sql: string;
  params?: unknown[];
  /**
   * The statement must answer exactly this many rows, or the thread rolls the whole
   * transaction back and answers what ran so far (`abortedAt`): how a caller that assumed
   * something (a claim is new, a run has no status yet) learns it was wrong, with nothing stored.
   */
  expectRows?: number;
}

export type ThreadRequest =
  | { id: number; op: 'query'; sql: string; params?: unknown[] }
  | { id: number; op: 'transaction'; statements: ThreadStatement[] }
  | { id: number; op: 'close' };

/** PGlite's own result shape, which typeorm reads as it reads typeorm-pglite's. */
export interface ThreadResult {
  rows: unknown[];
  fields?: unknown[];
  affectedRows?: number;
}

/** A transaction's answer: each statement's result in order; with `abortedAt`, it was rolled back there. */
export interface ThreadTransaction {
  results: ThreadResult[];
  abortedAt?: number;
}

/** Id 0 answers the start: the database is open, or why it is not. */
export interface ThreadReply {
  id: number;
  result?: ThreadResult;
  transaction?: ThreadTransaction;
  error?: { message: string; name?: string; [field: string]: unknown };
}
