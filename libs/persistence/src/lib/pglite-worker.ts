import { EventEmitter } from 'node:events';
import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { InternalError } from '@rungate/contracts';
import type { DataSource } from 'typeorm';
import type { ThreadReply, ThreadRequest, ThreadResult, ThreadStart } from './pglite-protocol';

type Callback = (error: Error | null, result?: ThreadResult) => void;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The thread behind each DataSource openEmbeddedDatabase opened (embeddedThread). */
const threads = new WeakMap<DataSource, PGliteThread>();

/** The embedded database's thread behind `db`, if it is one (for the audit log's commits in one message). */
export function embeddedThread(db: DataSource): PGliteThread | undefined {
  return threads.get(db);
}

/**
 * A statement's failure as PGlite threw it in the thread (its DatabaseError): the message and
 * fields (code, detail, constraint…), which typeorm's QueryFailedError copies as from pg.
 */
class DatabaseError extends Error {
  constructor(reply: NonNullable<ThreadReply['error']>) {
    super(reply.message);
    Object.assign(this, reply);
  }
}

/**
 * The embedded database (PGlite) in a worker thread of its own (pglite-thread.ts), so its
 * synchronous WebAssembly runs beside the request's event loop instead of on it (issue 19,
 * ADR 20). Each statement is one message there and one back: it has run — and a COMMIT has
 * been written to the data directory — when its answer comes. One session, statements in
 * the order they were sent, as PGlite on the event loop had.
 */
export class PGliteThread {
  private readonly pending = new Map<number, { resolve: (reply: ThreadReply) => void; reject: (error: Error) => void }>();
  private next = 1;
  private failure?: Error;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: ThreadReply) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if (reply.error) waiting.reject(new DatabaseError(reply.error));
      else waiting.resolve(reply);
    });
    // A thread that died (out of memory, a WebAssembly abort) fails what waits on it and everything after: fail closed.
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const waiting of this.pending.values()) waiting.reject(this.failure);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new InternalError(`the embedded database's thread exited (${code})`)));
  }

  /** Starts the thread and opens the database in it; rejects with why it could not. */
  static async start(options: ThreadStart): Promise<PGliteThread> {
    // pglite-thread.js beside this file when built, pglite-thread.ts under ts-node (the thread
    // inherits its -r flags) or jest (whose compiler the thread lacks: it registers ts-node).
    const source = extname(__filename) === '.ts';
    const registered = process.execArgv.some((flag) => flag.includes('ts-node'));
    const execArgv = source && !registered ? [...process.execArgv, '-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'] : undefined;
    const worker = new Worker(join(__dirname, `pglite-thread${extname(__filename)}`), { workerData: options, ...(execArgv ? { execArgv } : {}) });
    const thread = new PGliteThread(worker);
    await new Promise<ThreadReply>((resolve, reject) => thread.pending.set(0, { resolve, reject }));
    return thread;
  }

  async query(sql: string, params?: unknown[]): Promise<ThreadResult> {
    return (await this.send({ op: 'query', sql, ...(params ? { params } : {}) })).result ?? { rows: [] };
  }

  /** Closes the database (its last writes flushed), then ends the thread. */
  async close(): Promise<void> {
    if (this.failure) return;
    try {
      await this.send({ op: 'close' });
    } finally {
      await this.worker.terminate();
    }
  }

  private send(request: DistributiveOmit<ThreadRequest, 'id'>): Promise<ThreadReply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.next++;
    return new Promise<ThreadReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id } as ThreadRequest);
    });
  }

  /**
   * What typeorm's postgres driver takes as `driver`: a `pg`-like Pool whose one connection
   * is this thread (as typeorm-pglite's pool is its one PGlite instance).
   */
  /** Remembers that `db` runs on this thread (openEmbeddedDatabase). */
  serves(db: DataSource): void {
    threads.set(db, this);
  }

  driver(): { Pool: new () => EventEmitter } {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the Pool class typeorm instantiates needs the thread it belongs to
    const thread = this;
    class Pool extends EventEmitter {
      connect(callback: (error: Error | null, connection: Pool, release: () => void) => void): void {
        callback(null, this, () => undefined);
      }

      query(sql: string, params?: unknown[] | Callback, callback?: Callback): Promise<ThreadResult> {
        const done = typeof params === 'function' ? params : callback;
        const running = thread.query(sql, Array.isArray(params) ? params : undefined);
        if (done) running.then((result) => done(null, result), (error: Error) => done(error));
        return running;
      }

      end(callback?: (error?: Error | null) => void): void {
        thread.close().then(
          () => callback?.(null),
          (error: Error) => callback?.(error),
        );
      }
    }
    return { Pool };
  }
}
