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
function chainedContent(message: StreamedEvent): { content: Record<string, unknown>; event?: AuditEvent } {
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

/**
 * The chain writer: appends stream messages in sequence order, each hashed onto the one
 * before. A message whose sequence is already stored (a redelivery) is skipped, so every
 * event lands exactly once.
 */
export class AuditStore {
  private head?: { seq: number; hash: string };

  constructor(private readonly db: DataSource) {}

  async loadHead(): Promise<{ seq: number; hash: string }> {
    const rows: { seq: string; hash: string }[] = await this.db.query('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
    this.head = rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : { seq: 0, hash: GENESIS_HASH };
    return this.head;
  }

  /** Appends a batch in one transaction; returns how many rows were new. */
  async append(messages: readonly StreamedEvent[]): Promise<number> {
    const head = this.head ?? (await this.loadHead());
    let prev = head.hash;
    let last = head.seq;
    const rows: unknown[][] = [];
    for (const message of [...messages].sort((a, b) => a.seq - b.seq)) {
      if (message.seq <= last) continue;
      const { content, event } = chainedContent(message);
      const hash = chainHash(prev, content);
      rows.push(row(message.seq, content, event, prev, hash));
      prev = hash;
      last = message.seq;
    }
    if (rows.length === 0) return 0;
    const placeholders = rows.map((_, r) => `(${COLUMNS.map((__, c) => `$${r * COLUMNS.length + c + 1}`).join(',')})`).join(',');
    try {
      await this.db.query(`INSERT INTO audit_events (${COLUMNS.join(',')}) VALUES ${placeholders}`, rows.flat());
    } catch (error) {
      this.head = undefined;
      throw error;
    }
    this.head = { seq: last, hash: prev };
    return rows.length;
  }
}

/** `rungate audit verify`: recomputes the whole chain from the table, in pages. */
export async function verifyStoredChain(db: DataSource, pageSize = 5000): Promise<ChainVerification & { rows: number }> {
  let afterSeq = -1;
  let prevHash = GENESIS_HASH;
  let checked = 0;
  for (;;) {
    const page: { seq: string; id: string; event: unknown; prev_hash: string; hash: string }[] = await db.query(
      'SELECT seq, id, event, prev_hash, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2',
      [afterSeq, pageSize],
    );
    if (page.length === 0) return { ok: true, checked, head: prevHash, rows: checked };
    const result = verifyChain(
      page.map((r) => ({ seq: Number(r.seq), id: r.id, event: r.event, prevHash: r.prev_hash, hash: r.hash })),
      prevHash,
    );
    checked += result.checked;
    if (!result.ok) return { ...result, checked, rows: checked };
    prevHash = result.head as string;
    afterSeq = Number(page[page.length - 1]?.seq);
  }
}
