/**
 * The worker thread that holds `rungate serve`'s embedded database (started by
 * pglite-worker.ts): PGlite runs PostgreSQL compiled to WebAssembly synchronously, so on the
 * request's event loop every statement stopped everything else — about half of the busy CPU
 * of an embedded call (issue 19). Here it runs beside the services. Statements run one at a
 * time, in the order they came, on one session, as they did on the event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, types } from '@electric-sql/pglite';
import { InternalError } from '@rungate/contracts';
import { pgliteTemplate } from './embedded-template';
import type { ThreadReply, ThreadRequest, ThreadStart } from './pglite-protocol';

const port = parentPort;
if (!port) throw new InternalError('pglite-thread runs as a worker thread');

/** Booleans as typeorm hands them in (true, 'true', 1), as typeorm-pglite serializes them. */
function serializeBool(value: unknown): string {
  if (value === true || value === 'true' || value === 1) return 'TRUE';
  if (value === false || value === 'false' || value === 0) return 'FALSE';
  return String(value);
}

/** A database error with what callers test (code, detail, constraint…), as plain data. */
function plainError(error: unknown): ThreadReply['error'] {
  if (!(error instanceof Error)) return { message: String(error) };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) if (typeof value !== 'function' && typeof value !== 'object') fields[key] = value;
  return { ...fields, name: error.name, message: error.message };
}

async function main(): Promise<void> {
  const { dataDir, template } = workerData as ThreadStart;
  const loadDataDir = pgliteTemplate(dataDir, template);
  const db = await PGlite.create({ ...(dataDir ? { dataDir } : {}), ...(loadDataDir ? { loadDataDir } : {}), serializers: { [types.BOOL]: serializeBool } });
  port?.on('message', (request: ThreadRequest) => {
    if (request.op === 'close') {
      void db.close().then(
        () => port.postMessage({ id: request.id, result: { rows: [] } } satisfies ThreadReply),
        (error: unknown) => port.postMessage({ id: request.id, error: plainError(error) } satisfies ThreadReply),
      );
      return;
    }
    // Without parameters a text may hold several statements (migrations): the last one answers, as typeorm expects.
    const running =
      request.params && request.params.length > 0
        ? db.query(request.sql, request.params)
        : db.exec(request.sql).then((results) => results[results.length - 1] ?? { rows: [] });
    running.then(
      (result) => port.postMessage({ id: request.id, result } satisfies ThreadReply),
      (error: unknown) => port.postMessage({ id: request.id, error: plainError(error) } satisfies ThreadReply),
    );
  });
  port?.postMessage({ id: 0, result: { rows: [] } } satisfies ThreadReply);
}

main().catch((error: unknown) => port.postMessage({ id: 0, error: plainError(error) } satisfies ThreadReply));
