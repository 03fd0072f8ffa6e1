import { AuditEvent } from '@rungate/contracts';
import { GENESIS_HASH, chainHash, verifyChain, type ChainVerification } from '@rungate/audit-chain';
import type { DataSource } from 'typeorm';

/** One message off the AUDIT stream: its stream sequence, subject and raw bytes. */
export interface StreamedEvent {
  seq: number;
  subject: string;
  data: string;
}

const COLUMNS = [
  'seq', 'id', 'time', 'type', 'valid', 'source', 'run_id', 'actor_user', 'actor_agent', 'actor_token_id', 'actor_groups', 'actor_ip',
  'tool', 'repository', 'path', 'commit', 'runbook_sha256', 'connection_name', 'connection_type', 'params', 'decision_effect',
  'decision_rule', 'decision_reason', 'outcome_status', 'error_code', 'exit_code', 'duration_ms', 'rows', 'bytes', 'truncated',
  'output_sha256', 'event', 'prev_hash', 'hash',
] as const;

/** What the chain covers: the validated event, or for a malformed one its subject and raw text. */
export function chainedContent(message: StreamedEvent): { content: Record<string, unknown>; event?: AuditEvent } {
  try {
    const parsed = AuditEvent.safeParse(JSON.parse(message.data));
    if (parsed.success) return { content: parsed.data as unknown as Record<string, unknown>, event: parsed.data };
  } catch {
    // recorded below as invalid; never dropped
  }
  return { content: { invalid: true, subject: message.subject, raw: message.data } };
}

function row(seq: number, content: Record<string, unknown>, event: AuditEvent | undefined, prevHash: string, hash: string): unknown[] {
  const e = event;
  const values: Record<(typeof COLUMNS)[number], unknown> = {
    seq,
    id: e?.id ?? `invalid-${seq}`,
    time: e?.time ?? new Date().toISOString(),
    type: e?.type ?? String(content['subject'] ?? 'invalid'),
    valid: Boolean(e),
    source: e?.source ?? null,
    run_id: e?.runId ?? null,
    actor_user: e?.actor?.user ?? null,
    actor_agent: e?.actor?.agent ?? null,
    actor_token_id: e?.actor?.tokenId ?? null,
    actor_groups: e?.actor ? JSON.stringify(e.actor.groups) : null,
    actor_ip: e?.actor?.ip ?? null,
    tool: e?.tool ?? null,
    repository: e?.runbook?.repository ?? null,
    path: e?.runbook?.path ?? null,
    commit: e?.runbook?.commit ?? null,
    runbook_sha256: e?.runbook?.sha256 ?? null,
    connection_name: e?.connection?.name ?? null,
    connection_type: e?.connection?.type ?? null,
    params: e?.params ? JSON.stringify(e.params) : null,
    decision_effect: e?.decision?.effect ?? null,
    decision_rule: e?.decision?.rule ?? null,
    decision_reason: e?.decision?.reason ?? null,
    outcome_status: e?.outcome?.status ?? null,
    error_code: e?.outcome?.errorCode ?? null,
    exit_code: e?.outcome?.exitCode ?? null,
    duration_ms: e?.outcome?.durationMs ?? null,
    rows: e?.outcome?.rows ?? null,
    bytes: e?.outcome?.bytes ?? null,
    truncated: e?.outcome?.truncated ?? null,
    output_sha256: e?.outcome?.outputSha256 ?? null,
    event: JSON.stringify(content),
    prev_hash: prevHash,
    hash,
  };
  return COLUMNS.map((c) => values[c]);
}

/** Serializes appends across processes: whoever holds it reads the head and extends it. */
const APPEND_LOCK = 726127103;

export interface ChainHead {
  seq: number;
  hash: string;
}

/**
 * The chain writer's core, with no consumer attached (the audit service feeds it from
 * JetStream, the all-in-one mode from its in-process log): appends messages in sequence
 * order, each hashed onto the one before. A message whose sequence is already stored (a
 * redelivery) is skipped, so every event lands exactly once.
 *
 * Each append is one transaction that takes a transaction-scoped advisory lock and re-reads
 * the head under it, so two writers can never fork the chain: the rows are chained off-lock
 * on the cached head and re-chained only when another writer moved it.
 */
export class AuditStore {
  private head?: ChainHead;

  constructor(private readonly db: DataSource) {}

  async loadHead(): Promise<ChainHead> {
    this.head = await readHead(this.db);
    return this.head;
  }

  /** The last stored head as this store knows it (after loadHead or an append). */
  get cachedHead(): ChainHead | undefined {
    return this.head ? { ...this.head } : undefined;
  }

  /** Appends a batch in one transaction; returns how many rows were new. */
  async append(messages: readonly StreamedEvent[]): Promise<number> {
    const ordered = [...messages].sort((a, b) => a.seq - b.seq);
    let planned = chainRows(ordered, this.head ?? (await this.loadHead()));
    const runner = this.db.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      await runner.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK]);
      const head = await readHead(runner);
      if (head.seq !== planned.from.seq || head.hash !== planned.from.hash) planned = chainRows(ordered, head);
      if (planned.rows.length > 0) await insertRows(runner, planned.rows);
      await runner.commitTransaction();
      this.head = planned.to;
      return planned.rows.length;
    } catch (error) {
      this.head = undefined;
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }
}

interface Queryable {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

async function readHead(db: Queryable): Promise<ChainHead> {
  const rows = (await db.query('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1')) as { seq: string; hash: string }[];
  return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : { seq: 0, hash: GENESIS_HASH };
}

/** Pure: the rows that extend `from` with the messages not yet stored, and the new head. */
function chainRows(ordered: readonly StreamedEvent[], from: ChainHead): { from: ChainHead; to: ChainHead; rows: unknown[][] } {
  let prev = from.hash;
  let last = from.seq;
  const rows: unknown[][] = [];
  for (const message of ordered) {
    if (message.seq <= last) continue;
    const { content, event } = chainedContent(message);
    const hash = chainHash(prev, content);
    rows.push(row(message.seq, content, event, prev, hash));
    prev = hash;
    last = message.seq;
  }
  return { from, to: { seq: last, hash: prev }, rows };
}

/** PostgreSQL takes at most 65,535 parameters per statement. */
const ROWS_PER_INSERT = Math.floor(65_535 / COLUMNS.length);

async function insertRows(db: Queryable, rows: unknown[][]): Promise<void> {
  for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
    const chunk = rows.slice(start, start + ROWS_PER_INSERT);
    const placeholders = chunk.map((_, r) => `(${COLUMNS.map((__, c) => `$${r * COLUMNS.length + c + 1}`).join(',')})`).join(',');
    await db.query(`INSERT INTO audit_events (${COLUMNS.join(',')}) VALUES ${placeholders}`, chunk.flat());
  }
}

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
