import { createHash } from 'node:crypto';
import { InternalError, jsonDepth, type AuditEvent } from '@rungate/contracts';
import { GENESIS_HASH, MAX_AUDIT_EVENT_DEPTH, canonicalJson, type RunStatus, chainHashOfCanonical, encodeAuditText, readAuditMessage, verifyChain, type ChainVerification } from '@rungate/audit-chain';
import type { DataSource } from 'typeorm';
import { embeddedThread, type PGliteThread } from './pglite-worker';
import type { RunClaim } from './run-claims';
import {
  KnownRunStatuses,
  planRunStatuses,
  projectRunStatuses,
  readRunStatuses,
  runStatusReadSql,
  runStatusUpsertSql,
  type RunEvent,
} from './run-status-projection';

/** One message off the AUDIT stream: its stream sequence, subject and raw bytes. */
export interface StreamedEvent {
  seq: number;
  subject: string;
  data: string;
  /**
   * The event `data` is the JSON of, when the writer made it itself (LocalAuditLog: what
   * completeAuditEvent gave, validated and in the audit text encoding): chained as it is
   * rather than read back from `data`, which gives the same event (audit-store.spec.ts).
   */
  event?: AuditEvent;
}

const COLUMNS = [
  'seq', 'id', 'time', 'type', 'valid', 'source', 'run_id', 'actor_user', 'actor_agent', 'actor_token_id', 'actor_groups', 'actor_ip',
  'tool', 'repository', 'path', 'commit', 'runbook_sha256', 'connection_name', 'connection_type', 'params', 'decision_effect',
  'decision_rule', 'decision_reason', 'outcome_status', 'error_code', 'exit_code', 'duration_ms', 'rows', 'bytes', 'truncated',
  'output_sha256', 'event', 'prev_hash', 'hash',
] as const;

interface ChainedContent {
  content: Record<string, unknown>;
  /** canonicalJson(content): what is hashed, and stored as the row's `event`. */
  canonical: string;
  event?: AuditEvent;
}

function invalidContent(message: StreamedEvent): ChainedContent {
  const content = { invalid: true, subject: message.subject, raw: encodeAuditText(message.data) };
  return { content, canonical: canonicalJson(content) };
}

/**
 * How a writer before the audit text encoding stored a message it could not store as an
 * event: also every valid event holding NUL or a lone surrogate, with NUL replaced. Only for
 * `verify --stream`, so rows written then are not reported as altered.
 */
export function legacyInvalidContent(message: StreamedEvent): Record<string, unknown> {
  return { invalid: true, subject: message.subject, raw: message.data.replace(/\0/g, '\uFFFD') };
}

/**
 * What the chain covers: the validated event, in its audit text encoding; or, for a message
 * that is not one, its subject and raw text. Either way it is stored, never dropped, and a
 * message always yields the same content (verify --stream relies on it).
 */
export function chainedContent(message: StreamedEvent): ChainedContent {
  const own = message.event;
  if (own && jsonDepth(own, MAX_AUDIT_EVENT_DEPTH) <= MAX_AUDIT_EVENT_DEPTH) {
    const content = own as unknown as Record<string, unknown>;
    return { content, canonical: canonicalJson(content), event: own };
  }
  const read = readAuditMessage(message.data);
  if (!read.ok) return invalidContent(message);
  const content = read.event as unknown as Record<string, unknown>;
  return { content, canonical: canonicalJson(content), event: read.event };
}

/** The event's time for the time column, when PostgreSQL reads it the same; else undefined. */
function projectedTime(text: string): string | undefined {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) return undefined;
  const time = new Date(ms);
  const year = time.getUTCFullYear();
  return year >= 1 && year <= 9999 ? time.toISOString() : undefined;
}

/** Longest text an indexed column holds as it is; PostgreSQL's btree refuses entries over 2,704 bytes. */
const INDEXED_TEXT_BYTES = 512;
const INDEXED_TEXT_PREFIX = 128;

/**
 * An indexed column's value (event id, run id, actor): the text itself, or for a longer one
 * its first 128 characters, "…sha256:" and the whole text's digest — unique, small enough
 * for the index, and what a search computes from a filter value to find it. A single event
 * must never be unstorable: it would hold up every event after it.
 */
export function indexedText(text: string): string {
  if (Buffer.byteLength(text, 'utf8') <= INDEXED_TEXT_BYTES) return text;
  const prefix = Array.from(text).slice(0, INDEXED_TEXT_PREFIX).join('');
  return `${prefix}…sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

const int32 = (n: number | null | undefined) => (n !== null && n !== undefined && Number.isInteger(n) && Math.abs(n) <= 2 ** 31 - 1 ? n : null);

/**
 * One row as JSON text for jsonb_populate_recordset. The projected columns can never make
 * the insert fail (a message that cannot be stored would hold up every later event); the
 * chained content goes in as its canonical text, computed once for hash and row.
 */
function rowJson(seq: number, chained: ChainedContent, prevHash: string, hash: string, writtenAt: string): string {
  const e = chained.event;
  const columns: Omit<Record<(typeof COLUMNS)[number], unknown>, 'event'> = {
    seq,
    id: e ? indexedText(e.id) : `invalid-${seq}`,
    time: (e && projectedTime(e.time)) ?? writtenAt,
    type: e?.type ?? String(chained.content['subject'] ?? 'invalid'),
    valid: Boolean(e),
    source: e?.source ?? null,
    run_id: e?.runId === undefined ? null : indexedText(e.runId),
    actor_user: e?.actor?.user === undefined ? null : indexedText(e.actor.user),
    actor_agent: e?.actor?.agent ?? null,
    actor_token_id: e?.actor?.tokenId ?? null,
    actor_groups: e?.actor?.groups ?? null,
    actor_ip: e?.actor?.ip ?? null,
    tool: e?.tool ?? null,
    repository: e?.runbook?.repository ?? null,
    path: e?.runbook?.path ?? null,
    commit: e?.runbook?.commit ?? null,
    runbook_sha256: e?.runbook?.sha256 ?? null,
    connection_name: e?.connection?.name ?? null,
    connection_type: e?.connection?.type ?? null,
    params: e?.params ?? null,
    decision_effect: e?.decision?.effect ?? null,
    decision_rule: e?.decision?.rule ?? null,
    decision_reason: e?.decision?.reason ?? null,
    outcome_status: e?.outcome?.status ?? null,
    error_code: e?.outcome?.errorCode ?? null,
    exit_code: int32(e?.outcome?.exitCode),
    duration_ms: e?.outcome?.durationMs ?? null,
    rows: e?.outcome?.rows ?? null,
    bytes: e?.outcome?.bytes ?? null,
    truncated: e?.outcome?.truncated ?? null,
    output_sha256: e?.outcome?.outputSha256 ?? null,
    prev_hash: prevHash,
    hash,
  };
  return `${JSON.stringify(columns).slice(0, -1)},"event":${chained.canonical}}`;
}

/** Serializes appends across processes: whoever holds it reads the head and extends it. */
const APPEND_LOCK = 726127103;

export interface ChainHead {
  seq: number;
  hash: string;
}

export interface AuditStoreOptions {
  /**
   * This store is the chain's only writer (the embedded database of `rungate serve`, opened
   * under the data directory's lock): an append skips the append lock and the head re-read,
   * two of its statements, and does not read back run statuses it projected itself
   * (KnownRunStatuses) (issue 19, ADR 20). Were another writer to append all the same,
   * the batch's first row collides with its row of the same seq (the primary key), so the
   * transaction fails and nothing is stored: the chain is refused, never forked, and the
   * next append reloads the head.
   */
  soleWriter?: boolean;
}

/**
 * The chain writer's core, with no consumer attached (the audit service feeds it from
 * JetStream, the all-in-one mode from its in-process log): appends messages in sequence
 * order, each hashed onto the one before. A message whose sequence is already stored (a
 * redelivery) is skipped, so every event lands exactly once.
 *
 * Each append is one transaction that takes a transaction-scoped advisory lock and re-reads
 * the head under it, so two writers can never fork the chain: the rows are chained off-lock
 * on the cached head and re-chained only when another writer moved it. A sole writer
 * (`soleWriter`) chains on its cached head without either.
 */
export class AuditStore {
  private head?: ChainHead;
  /** A sole writer's recent run statuses: what its projection need not read back. */
  private readonly known?: KnownRunStatuses;
  /** A sole writer's embedded database thread, for appends in one message (appendAtOnce). */
  private readonly thread?: PGliteThread;
  /** COMMIT_AT_ONCE_DEFINITION sent to the thread's session (once: the session is this process's for its life). */
  private commitDefined?: Promise<void>;

  constructor(
    private readonly db: DataSource,
    private readonly options: AuditStoreOptions = {},
  ) {
    if (options.soleWriter) {
      this.known = new KnownRunStatuses();
      this.thread = embeddedThread(db);
    }
  }

  /** Appends can go in one message each (appendAtOnce): a sole writer on the embedded database. */
  get atOnce(): boolean {
    return this.thread !== undefined;
  }

  /**
   * A sole writer's append on the embedded database in one message and one statement (issue
   * 19, ADR 20): the claims (each must be new), the rows and the run-status projection are
   * one call of COMMIT_AT_ONCE, a function of the database session, so PostgreSQL plans its
   * statements once per session instead of once per commit and PGlite runs one statement, not
   * seven. It assumes that every claim is new and that a run the projection does not know has
   * no status row yet; it checks both before it writes anything, and if either is wrong it
   * stores nothing and answers what it found: the run statuses are folded in and the append
   * runs once more; the claims already taken are answered (`taken`), nothing stored.
   */
  async appendAtOnce(claims: readonly RunClaim[], batch: readonly StreamedEvent[]): Promise<{ stored: number } | { taken: Set<string> }> {
    const thread = this.thread;
    if (!thread) throw new InternalError('appendAtOnce is for a sole writer on the embedded database');
    const ordered = [...batch].sort((a, b) => a.seq - b.seq);
    let given = new Map<string, RunStatus | undefined>();
    try {
      this.commitDefined ??= thread.query(COMMIT_AT_ONCE_DEFINITION).then(() => undefined);
      await this.commitDefined;
      const planned = chainRows(ordered, this.head ?? (await this.loadHead()));
      // A second attempt reads nothing (it knows every run's status), so it cannot stop at the read.
      for (let attempt = 0; attempt < 2; attempt++) {
        const plan = planned.rows.length > 0 ? planRunStatuses(planned.runEvents, this.known, given) : undefined;
        if (!plan && claims.length === 0) return { stored: 0 };
        const result = await thread.query(COMMIT_AT_ONCE, [
          claims.map((c) => c.runId),
          claims.map((c) => c.holder),
          rowsParam(planned.rows),
          plan?.unknown ?? [],
          plan?.changes ?? null,
        ]);
        const outcome = (result.rows[0] as { outcome?: CommitAtOnceOutcome } | undefined)?.outcome;
        if (!outcome) throw new InternalError('the embedded database answered an append without its outcome');
        if (outcome.stored) {
          this.head = planned.to;
          if (plan) this.known?.learn(plan.statuses);
          return { stored: planned.rows.length };
        }
        if ((outcome.taken ?? []).length > 0) return { taken: new Set(outcome.taken) };
        if (!plan) break;
        given = readRunStatuses(plan.unknown, outcome.statuses ?? []);
      }
      throw new InternalError('the embedded database changed run statuses under its sole writer');
    } catch (error) {
      this.head = undefined;
      this.known?.forget();
      throw error;
    }
  }

  async loadHead(): Promise<ChainHead> {
    this.head = await readHead(this.db);
    return this.head;
  }

  /** The last stored head as this store knows it (after loadHead or an append). */
  get cachedHead(): ChainHead | undefined {
    return this.head ? { ...this.head } : undefined;
  }

  /**
   * Appends a batch in one transaction; returns how many rows were new. Given a function, it
   * runs first in that transaction and answers the batch (the embedded log claims its runs
   * there and keeps only the events of those claimed), so its writes commit with the rows.
   */
  async append(batch: readonly StreamedEvent[] | ((db: Queryable) => Promise<readonly StreamedEvent[]>)): Promise<number> {
    let ordered = typeof batch === 'function' ? [] : [...batch].sort((a, b) => a.seq - b.seq);
    let planned = chainRows(ordered, this.head ?? (await this.loadHead()));
    const runner = this.db.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      if (typeof batch === 'function') {
        ordered = [...(await batch(runner))].sort((a, b) => a.seq - b.seq);
        if (ordered.length === 0) {
          await runner.commitTransaction();
          return 0;
        }
        planned = chainRows(ordered, planned.from);
      }
      if (!this.options.soleWriter) {
        await runner.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK]);
        const head = await readHead(runner);
        if (head.seq !== planned.from.seq || head.hash !== planned.from.hash) planned = chainRows(ordered, head);
      }
      let statuses: Map<string, RunStatus | undefined> | undefined;
      if (planned.rows.length > 0) {
        await insertRows(runner, planned.rows);
        statuses = await projectRunStatuses(runner, planned.runEvents, this.known);
      }
      await runner.commitTransaction();
      this.head = planned.to;
      if (statuses) this.known?.learn(statuses);
      return planned.rows.length;
    } catch (error) {
      this.head = undefined;
      this.known?.forget();
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }
}

export interface Queryable {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

async function readHead(db: Queryable): Promise<ChainHead> {
  const rows = (await db.query('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1')) as { seq: string; hash: string }[];
  return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : { seq: 0, hash: GENESIS_HASH };
}

/** Pure: the rows that extend `from` with the messages not yet stored, their runs' events, and the new head. */
function chainRows(ordered: readonly StreamedEvent[], from: ChainHead): { from: ChainHead; to: ChainHead; rows: string[]; runEvents: RunEvent[] } {
  let prev = from.hash;
  let last = from.seq;
  const rows: string[] = [];
  const runEvents: RunEvent[] = [];
  const writtenAt = new Date().toISOString();
  for (const message of ordered) {
    if (message.seq <= last) continue;
    const chained = chainedContent(message);
    const hash = chainHashOfCanonical(prev, chained.canonical);
    rows.push(rowJson(message.seq, chained, prev, hash, writtenAt));
    if (chained.event?.runId !== undefined) runEvents.push({ seq: message.seq, runId: indexedText(chained.event.runId), event: chained.event });
    prev = hash;
    last = message.seq;
  }
  return { from, to: { seq: last, hash: prev }, rows, runEvents };
}

/**
 * One statement, one parameter: the rows as a JSON array that PostgreSQL expands itself,
 * which costs far less on both sides than tens of thousands of bind parameters.
 */
async function insertRows(db: Queryable, rows: string[]): Promise<void> {
  await db.query(insertRowsSql('$1'), [rowsParam(rows)]);
}

/** The insert of the rows `rows` names (rowsParam's JSON array): `$1`, or a function's argument. */
function insertRowsSql(rows: string): string {
  return `INSERT INTO audit_events (${COLUMNS.join(',')}) SELECT ${COLUMNS.join(',')} FROM jsonb_populate_recordset(NULL::audit_events, ${rows}::jsonb)`;
}

function rowsParam(rows: readonly string[]): string {
  return `[${rows.join(',')}]`;
}

/** What COMMIT_AT_ONCE answers: stored, or (nothing stored) the claims already taken and the statuses of the runs it was to read. */
interface CommitAtOnceOutcome {
  stored?: boolean;
  taken?: string[];
  statuses?: { run_id: string; status: string }[];
}

/**
 * A sole writer's whole commit as one statement (AuditStore.appendAtOnce), defined in the
 * embedded database's session — a temporary function: nothing of it is stored, and no
 * migration is needed — from the same statements the other paths send (insertRowsSql,
 * runStatusReadSql, runStatusUpsertSql). A statement is atomic, so it stores all or nothing;
 * PL/pgSQL keeps each statement's plan for the session. It checks before it writes: claims
 * already taken, or statuses where it assumed none, answer what they found with nothing
 * written. The claims are then inserted without ON CONFLICT, so a claim some other writer
 * took meanwhile fails the whole statement rather than pass unnoticed.
 */
const COMMIT_AT_ONCE_DEFINITION = `CREATE OR REPLACE FUNCTION pg_temp.rungate_commit_at_once(
    claim_ids text[], claim_holders text[], event_rows jsonb, unread_runs text[], status_changes jsonb)
  RETURNS jsonb LANGUAGE plpgsql AS $commit$
DECLARE
  taken jsonb;
  statuses jsonb;
BEGIN
  SELECT jsonb_agg(claim.run_id) INTO taken FROM run_claims claim WHERE claim.run_id = ANY(claim_ids);
  SELECT jsonb_agg(to_jsonb(stored_status)) INTO statuses FROM (${runStatusReadSql('unread_runs')}) stored_status;
  IF taken IS NOT NULL OR statuses IS NOT NULL THEN
    RETURN jsonb_build_object('taken', coalesce(taken, '[]'::jsonb), 'statuses', coalesce(statuses, '[]'::jsonb));
  END IF;
  INSERT INTO run_claims (run_id, holder) SELECT * FROM unnest(claim_ids, claim_holders);
  ${insertRowsSql('event_rows')};
  IF status_changes IS NOT NULL THEN
    ${runStatusUpsertSql('status_changes')};
  END IF;
  RETURN jsonb_build_object('stored', true);
END
$commit$`;

const COMMIT_AT_ONCE = 'SELECT pg_temp.rungate_commit_at_once($1::text[], $2::text[], $3::jsonb, $4::text[], $5::jsonb) AS outcome';

/** Where verification starts: a stream sequence, or the first event at or after a time. */
export type VerifyFrom = { seq: number } | { time: Date };

export interface StoredChainVerification extends ChainVerification {
  rows: number;
  /** The first row checked; with `from`, its prev_hash is taken on trust as the anchor. */
  anchor?: { seq: number; prevHash: string };
}

async function anchorRow(db: DataSource, from: VerifyFrom): Promise<{ seq: number; prevHash: string } | undefined> {
  const rows: { seq: string; prev_hash: string }[] =
    'seq' in from
      ? await db.query('SELECT seq, prev_hash FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT 1', [from.seq])
      : await db.query('SELECT seq, prev_hash FROM audit_events WHERE time >= $1 ORDER BY seq LIMIT 1', [from.time.toISOString()]);
  return rows[0] ? { seq: Number(rows[0].seq), prevHash: rows[0].prev_hash } : undefined;
}

/**
 * `rungate audit verify`: recomputes the chain from the table, in pages. From the start the
 * first row must follow the genesis hash; with `from`, the chain is checked from that row on
 * and its predecessor hash is the trusted anchor (e.g. one recorded at an earlier verify).
 */
export async function verifyStoredChain(db: DataSource, options: { pageSize?: number; from?: VerifyFrom } = {}): Promise<StoredChainVerification> {
  const pageSize = options.pageSize ?? 5000;
  let afterSeq = -1;
  let prevHash = GENESIS_HASH;
  let anchor: StoredChainVerification['anchor'];
  if (options.from) {
    anchor = await anchorRow(db, options.from);
    if (!anchor) return { ok: true, checked: 0, rows: 0 };
    afterSeq = anchor.seq - 1;
    prevHash = anchor.prevHash;
  }
  let checked = 0;
  for (;;) {
    const page: { seq: string; id: string; event: unknown; prev_hash: string; hash: string }[] = await db.query(
      'SELECT seq, id, event, prev_hash, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2',
      [afterSeq, pageSize],
    );
    if (page.length === 0) return { ok: true, checked, head: prevHash, rows: checked, ...(anchor ? { anchor } : {}) };
    const result = verifyChain(
      page.map((r) => ({ seq: Number(r.seq), id: r.id, event: r.event, prevHash: r.prev_hash, hash: r.hash })),
      prevHash,
    );
    checked += result.checked;
    if (!result.ok) return { ...result, checked, rows: checked, ...(anchor ? { anchor } : {}) };
    prevHash = result.head as string;
    afterSeq = Number(page[page.length - 1]?.seq);
  }
}
