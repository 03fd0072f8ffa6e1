import { canonicalJson } from '@rungate/audit-chain';
import { AUDIT_STREAM } from '@rungate/contracts';
import { chainedContent, legacyInvalidContent } from '@rungate/persistence';
import { DeliverPolicy, type JsMsg, type NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';

export type StreamMismatch =
  /** The row's content is not what the stream holds at its sequence. */
  | { kind: 'differs'; seq: number; id: string }
  /** The stream holds an event the table lacks (between rows the table has). */
  | { kind: 'missing-from-table'; seq: number }
  /** A row whose sequence the stream never had. */
  | { kind: 'not-on-stream'; seq: number; id: string };

export interface StreamComparison {
  ok: boolean;
  /** Rows compared with their stream message. */
  compared: number;
  /** Rows older than the stream's first message (retention limits dropped them): not comparable. */
  agedOut: number;
  /** Stream messages after the table's head: not written yet (the writer's lag). */
  unwritten: number;
  /** Rows written while the check ran (after the stream state it compared with): not compared. */
  newer: number;
  /**
   * Rows a writer before the audit text encoding stored as invalid because their event held
   * NUL or a lone surrogate; they match the stream in the form that writer gave them.
   */
  legacy: number;
  firstMismatch?: StreamMismatch;
}

interface Row {
  seq: string;
  id: string;
  event: unknown;
}

/**
 * `rungate audit verify --stream`: the table against the AUDIT stream it was written from.
 * The hash chain proves the rows were not changed one by one; this catches someone who
 * rewrote rows and recomputed every hash after them, since the stream (deny delete, deny
 * purge) still holds what was published. Rows and messages are walked side by side in
 * sequence order through an ordered consumer, never one request per row.
 */
export async function compareWithStream(db: DataSource, nc: NatsConnection, options: { fromSeq?: number; pageSize?: number } = {}): Promise<StreamComparison> {
  const pageSize = options.pageSize ?? 5000;
  const jsm = await nc.jetstreamManager();
  const { state } = await jsm.streams.info(AUDIT_STREAM);
  const result: StreamComparison = { ok: true, compared: 0, agedOut: 0, unwritten: 0, newer: 0, legacy: 0 };
  const fail = (mismatch: StreamMismatch): StreamComparison => ({ ...result, ok: false, firstMismatch: mismatch });
  let afterSeq = (options.fromSeq ?? 1) - 1;
  const firstOnStream = state.messages === 0 ? state.last_seq + 1 : state.first_seq;
  const aged: { n: string }[] = await db.query('SELECT count(*) AS n FROM audit_events WHERE seq > $1 AND seq < $2', [afterSeq, firstOnStream]);
  result.agedOut = Number(aged[0]?.n ?? 0);
  afterSeq = Math.max(afterSeq, firstOnStream - 1);
  const firstRow: Row[] = await db.query('SELECT seq FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 1', [afterSeq]);
  if (!firstRow[0]) return result;
  // Compare from the first row on: earlier stream messages belong to another table (deliver: new).
  const start = Number(firstRow[0].seq);
  const ordered = await nc.jetstream().consumers.get(AUDIT_STREAM, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start });
  const messages = await ordered.consume({ max_messages: Math.min(pageSize, 1000) });
  const stream = messages[Symbol.asyncIterator]();
  let message: JsMsg | undefined;
  const nextMessage = async (): Promise<JsMsg | undefined> => {
    if (message && message.seq >= state.last_seq) return undefined;
    const next = await stream.next();
    return next.done ? undefined : next.value;
  };
  try {
    message = start <= state.last_seq ? await nextMessage() : undefined;
    afterSeq = start - 1;
    for (;;) {
      // Rows written after the stream's state was read are left for the next check: comparing
      // them with a snapshot that ends before them would report them "never on the stream".
      const page: Row[] = await db.query('SELECT seq, id, event FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3', [
        afterSeq,
        state.last_seq,
        pageSize,
      ]);
      if (page.length === 0) break;
      for (const row of page) {
        const seq = Number(row.seq);
        if (message && message.seq < seq) return fail({ kind: 'missing-from-table', seq: message.seq });
        if (!message || message.seq > seq) return fail({ kind: 'not-on-stream', seq, id: row.id });
        const streamed = { seq, subject: message.subject, data: message.string() };
        const stored = canonicalJson(row.event);
        if (canonicalJson(chainedContent(streamed).content) !== stored) {
          if (canonicalJson(legacyInvalidContent(streamed)) !== stored) return fail({ kind: 'differs', seq, id: row.id });
          result.legacy += 1;
        }
        result.compared += 1;
        message = await nextMessage();
      }
      afterSeq = Number(page[page.length - 1]?.seq);
    }
    result.unwritten = message ? state.last_seq - message.seq + 1 : 0;
    return await checkNewerRows(db, nc, state.last_seq, result);
  } finally {
    await messages.close();
  }
}

/**
 * Rows past the stream state the walk compared with were written while it ran, or were
 * never published. A row is written only after its message is on the stream, so the table's
 * head read first and the stream's last sequence read after it tell the two apart.
 */
async function checkNewerRows(db: DataSource, nc: NatsConnection, comparedUpTo: number, result: StreamComparison): Promise<StreamComparison> {
  const head: { seq: string | null }[] = await db.query('SELECT max(seq) AS seq FROM audit_events');
  const tableHead = Number(head[0]?.seq ?? 0);
  if (tableHead <= comparedUpTo) return result;
  const { state } = await (await nc.jetstreamManager()).streams.info(AUDIT_STREAM);
  if (tableHead > state.last_seq) {
    const rows: Row[] = await db.query('SELECT seq, id FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 1', [state.last_seq]);
    const row = rows[0];
    return { ...result, ok: false, firstMismatch: { kind: 'not-on-stream', seq: Number(row?.seq ?? tableHead), id: row?.id ?? '?' } };
  }
  const newer: { n: string }[] = await db.query('SELECT count(*) AS n FROM audit_events WHERE seq > $1', [comparedUpTo]);
  return { ...result, newer: Number(newer[0]?.n ?? 0) };
}
