import { encodeAuditText, isUnstorableText } from '@rungate/audit-chain';
import type { DataSource } from 'typeorm';
import { indexedText } from './audit-store';

/** Filters of the audit query API and `rungate audit search`; every one is optional. */
export interface AuditQuery {
  /** actor.user, exactly. */
  user?: string;
  /** actor.agent, exactly. */
  agent?: string;
  /** A tool name (`ops.postgres.get_user`), or `<repository>/<path>` where `*` matches any run of characters. */
  runbook?: string;
  /** An event type; a trailing `*` matches a prefix (`audit.admin.*`). */
  type?: string;
  runId?: string;
  /** connection.name, exactly. */
  connection?: string;
  /** outcome.status, exactly: `denied` finds every refused attempt. */
  outcome?: string;
  /** outcome.errorCode, exactly: an attempt's code (`hidden-tool`, `unauthenticated`…) or a run's error code. */
  code?: string;
  /** actor.ip, exactly: where an attempt came from. */
  ip?: string;
  /**
   * What the reader may see at all, beside the filters (a token narrowed to runbooks or
   * connections): POSIX regular expressions the event's `<repository>/<path>`, or its
   * connection name, must match. An event without a runbook (or connection) matches none.
   */
  visible?: { runbooks?: string[]; connections?: string[] };
  /** Event time, inclusive. */
  since?: Date;
  /** Event time, exclusive. */
  until?: Date;
  /** Only events stored after this stream sequence (how `tail` follows). */
  afterSeq?: number;
  /** Oldest first (the default), or newest first. */
  order?: 'asc' | 'desc';
  limit: number;
  /** From a previous page's `nextCursor`. */
  cursor?: string;
}

export interface StoredAuditEvent {
  /** The AUDIT stream sequence, which is also the chain's order. */
  seq: number;
  hash: string;
  /** False for a message that was not a valid audit event (stored, never dropped). */
  valid: boolean;
  /** The event as chained: the native AuditEvent, or `{invalid, subject, raw}`. */
  event: Record<string, unknown>;
}

export interface AuditPage {
  events: StoredAuditEvent[];
  /** Present when more events match: pass it back as `cursor` for the next page. */
  nextCursor?: string;
}

export class InvalidCursorError extends Error {}

/** A cursor is the last sequence of a page and the order it was read in; opaque to callers. */
function encodeCursor(seq: number, order: 'asc' | 'desc'): string {
  return Buffer.from(`${order}:${seq}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string, order: 'asc' | 'desc'): number {
  const match = /^(asc|desc):(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || match[1] !== order) throw new InvalidCursorError('invalid cursor: pass back the nextCursor of a previous page, with the same order');
  return Number(match[2]);
}

/**
 * What a filter value may be stored as: its audit text encoding (docs/siem.md), which is how
 * a value holding NUL or a lone surrogate was written, and the value as given, which is how
 * one copied from a stored event reads. Never a form PostgreSQL cannot take as a parameter.
 */
function storedForms(value: string): string[] {
  const encoded = encodeAuditText(value);
  return encoded === value || isUnstorableText(value) ? [encoded] : [encoded, value];
}

/** Glob (`*`) to a LIKE pattern; LIKE's own wildcards and the escape character are taken literally. */
export function globToLike(glob: string): string {
  return glob.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%');
}

/**
 * One page of audit events, in chain order. Paging is keyset on the stream sequence, so a
 * page never shifts when events are appended while someone reads; `nextCursor` is absent on
 * the last page. Everything the caller sends is a bind parameter.
 */
export async function searchAuditEvents(db: DataSource, query: AuditQuery): Promise<AuditPage> {
  const order = query.order ?? 'asc';
  const where: string[] = [];
  const params: unknown[] = [];
  const bind = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const equals = (column: string, value: string, indexed = false) => {
    const forms = [...new Set(storedForms(value).map((form) => (indexed ? indexedText(form) : form)))];
    return forms.length === 1 ? `${column} = ${bind(forms[0])}` : `${column} IN (${forms.map(bind).join(', ')})`;
  };
  if (query.user !== undefined) where.push(equals('actor_user', query.user, true));
  if (query.agent !== undefined) where.push(equals('actor_agent', query.agent));
  if (query.runId !== undefined) where.push(equals('run_id', query.runId, true));
  if (query.connection !== undefined) where.push(equals('connection_name', query.connection));
  if (query.outcome !== undefined) where.push(equals('outcome_status', query.outcome));
  if (query.code !== undefined) where.push(equals('error_code', query.code));
  if (query.ip !== undefined) where.push(equals('actor_ip', query.ip));
  if (query.visible?.runbooks) where.push(`(repository || '/' || path) ~ ANY(${bind(query.visible.runbooks)}::text[])`);
  if (query.visible?.connections) where.push(`connection_name ~ ANY(${bind(query.visible.connections)}::text[])`);
  if (query.runbook !== undefined) {
    const glob = encodeAuditText(query.runbook);
    where.push(`(${equals('tool', query.runbook)} OR (repository || '/' || path) LIKE ${bind(globToLike(glob))} ESCAPE '\\')`);
  }
  if (query.type !== undefined) {
    const type = encodeAuditText(query.type);
    where.push(type.endsWith('*') ? `type LIKE ${bind(`${globToLike(type.slice(0, -1))}%`)} ESCAPE '\\'` : `type = ${bind(type)}`);
  }
  if (query.since) where.push(`time >= ${bind(query.since.toISOString())}`);
  if (query.until) where.push(`time < ${bind(query.until.toISOString())}`);
  if (query.afterSeq !== undefined) where.push(`seq > ${bind(query.afterSeq)}`);
  if (query.cursor !== undefined) {
    const seq = decodeCursor(query.cursor, order);
    where.push(order === 'asc' ? `seq > ${bind(seq)}` : `seq < ${bind(seq)}`);
  }
  const sql = `SELECT seq, hash, valid, event FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
               ORDER BY seq ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT ${bind(query.limit + 1)}`;
  const rows: { seq: string; hash: string; valid: boolean; event: Record<string, unknown> }[] = await db.query(sql, params);
  const events = rows.slice(0, query.limit).map((r) => ({ seq: Number(r.seq), hash: r.hash, valid: r.valid, event: r.event }));
  const last = events[events.length - 1];
  return { events, ...(rows.length > query.limit && last ? { nextCursor: encodeCursor(last.seq, order) } : {}) };
}
