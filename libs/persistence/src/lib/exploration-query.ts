import { AuditEvent, SESSION_REVIEWED, type SessionSummary } from '@rungate/contracts';
import type { DataSource } from 'typeorm';

/**
 * Exploration sessions and the backlog, read from the audit projection (ADR 19). A session is
 * the runs whose `audit.run.decided` names it in `details.session`; reviews are
 * `audit.admin.session.reviewed` events naming it the same way. Everything the caller sends is
 * a bind parameter.
 */

export interface SessionQuery {
  since?: Date;
  until?: Date;
  user?: string;
  agent?: string;
  /** Only sessions nobody has reviewed yet. */
  unreviewed?: boolean;
  limit: number;
}

/** The JSON path of an event's session, as the expression index stores it. */
const SESSION = "(event #>> '{details,session}')";

function iso(value: unknown): string {
  return new Date(value as string | Date).toISOString();
}

function texts(value: unknown): string[] {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.replace(/^\{|\}$/g, '').split(',').filter(Boolean) : [];
  return list.filter((item): item is string => typeof item === 'string' && item !== '' && item !== 'NULL').sort();
}

function binder(params: unknown[]): (value: unknown) => string {
  return (value) => {
    params.push(value);
    return `$${params.length}`;
  };
}

/** Sessions, most recently active first. */
export async function listSessions(db: DataSource, query: SessionQuery): Promise<SessionSummary[]> {
  const params: unknown[] = [];
  const bind = binder(params);
  const where = [`type = 'audit.run.decided'`, `${SESSION} IS NOT NULL`];
  if (query.since) where.push(`time >= ${bind(query.since.toISOString())}`);
  if (query.until) where.push(`time < ${bind(query.until.toISOString())}`);
  if (query.user !== undefined) where.push(`actor_user = ${bind(query.user)}`);
  if (query.agent !== undefined) where.push(`actor_agent = ${bind(query.agent)}`);
  const reviewed = bind(SESSION_REVIEWED);
  const rows: Record<string, unknown>[] = await db.query(
    `WITH calls AS (
       SELECT ${SESSION} AS session, seq, time, actor_user, actor_agent, tool, connection_name, decision_effect
         FROM audit_events WHERE ${where.join(' AND ')}
     ), reviews AS (
       SELECT ${SESSION} AS session, count(*) AS reviews FROM audit_events WHERE type = ${reviewed} AND ${SESSION} IS NOT NULL GROUP BY 1
     )
     SELECT c.session, min(c.time) AS first_seen, max(c.time) AS last_seen, count(*) AS calls,
            count(*) FILTER (WHERE c.decision_effect = 'deny') AS refused,
            (array_agg(c.actor_user ORDER BY c.seq))[1] AS actor_user, (array_agg(c.actor_agent ORDER BY c.seq))[1] AS actor_agent,
            array_agg(DISTINCT c.tool) FILTER (WHERE c.tool IS NOT NULL) AS tools,
            array_agg(DISTINCT c.connection_name) FILTER (WHERE c.connection_name IS NOT NULL) AS connections,
            coalesce(max(r.reviews), 0) AS reviews
       FROM calls c LEFT JOIN reviews r ON r.session = c.session
      GROUP BY c.session
      ${query.unreviewed ? 'HAVING coalesce(max(r.reviews), 0) = 0' : ''}
      ORDER BY max(c.seq) DESC
      LIMIT ${bind(query.limit)}`,
    params,
  );
  return rows.map((row) => ({
    id: String(row['session']),
    user: String(row['actor_user'] ?? 'unknown'),
    ...(row['actor_agent'] ? { agent: String(row['actor_agent']) } : {}),
    firstSeen: iso(row['first_seen']),
    lastSeen: iso(row['last_seen']),
    calls: Number(row['calls']),
    refused: Number(row['refused']),
    tools: texts(row['tools']),
    connections: texts(row['connections']),
    reviews: Number(row['reviews']),
  }));
}

/** At most this many events make one transcript (a session of thousands of calls is read in parts, by time). */
export const MAX_SESSION_EVENTS = 20_000;

/** Every event of a session's runs and its reviews, in chain order. */
export async function sessionEvents(db: DataSource, session: string): Promise<AuditEvent[]> {
  const rows: { event: unknown }[] = await db.query(
    `SELECT event FROM audit_events
      WHERE valid AND (run_id IN (SELECT run_id FROM audit_events WHERE type = 'audit.run.decided' AND ${SESSION} = $1)
         OR (type = $2 AND ${SESSION} = $1))
      ORDER BY seq LIMIT ${MAX_SESSION_EVENTS}`,
    [session, SESSION_REVIEWED],
  );
  return rows.flatMap((row) => {
    const parsed = AuditEvent.safeParse(typeof row.event === 'string' ? JSON.parse(row.event) : row.event);
    return parsed.success ? [parsed.data] : [];
  });
}

export interface BacklogQuery {
  since?: Date;
}

export interface BacklogRow {
  kind: 'missing-tool' | 'denied-tool' | 'repeated-query';
  key: string;
  example: string;
  count: number;
  agents: number;
  users: number;
  firstSeen: string;
  lastSeen: string;
  runId?: string;
  connection?: string;
}

/**
 * The attempt codes (ADR 17) that say a tool was asked for and not there for the caller: it
 * does not exist, is hidden from them, or no rule lets them run it there or with those values.
 * Malformed calls, bad parameters and guardrail denials are the caller's mistakes, not missing
 * runbooks.
 */
const ASKED_FOR = ['unknown-tool', 'hidden-tool', 'forbidden-connection', 'no-rule', 'params', 'token-scope'];

/**
 * What agents asked for and could not do, counted: `audit.attempt.denied` events for tools
 * (ASKED_FOR), and accepted exploration statements by fingerprint (constants stripped by
 * PostgreSQL's parser). Ranking is libs/exploration's rankBacklog.
 */
export async function backlogCounts(db: DataSource, query: BacklogQuery): Promise<BacklogRow[]> {
  const since = query.since ? query.since.toISOString() : '-infinity';
  const rows: Record<string, unknown>[] = await db.query(
    `SELECT CASE WHEN error_code = 'unknown-tool' THEN 'missing-tool' ELSE 'denied-tool' END AS kind,
            tool AS key, tool AS example, count(*) AS count,
            count(DISTINCT coalesce(actor_agent, actor_token_id, '')) AS agents, count(DISTINCT actor_user) AS users,
            min(time) AS first_seen, max(time) AS last_seen, NULL AS run_id,
            (array_agg(connection_name ORDER BY seq DESC))[1] AS connection
       FROM audit_events
      WHERE time >= $1::timestamptz AND type = 'audit.attempt.denied' AND tool IS NOT NULL AND error_code IN (${ASKED_FOR.map((code) => `'${code}'`).join(', ')})
      GROUP BY 1, 2
     UNION ALL
     SELECT 'repeated-query', event #>> '{details,fingerprint}', (array_agg(params ->> 'sql' ORDER BY seq DESC))[1], count(*),
            count(DISTINCT coalesce(actor_agent, actor_token_id, '')), count(DISTINCT actor_user),
            min(time), max(time), (array_agg(run_id ORDER BY seq DESC))[1], (array_agg(connection_name ORDER BY seq DESC))[1]
       FROM audit_events
      WHERE time >= $1::timestamptz AND type = 'audit.run.decided' AND tool = 'explore_sql' AND decision_effect = 'allow'
        AND event #>> '{details,fingerprint}' IS NOT NULL
      GROUP BY 2`,
    [since],
  );
  return rows.map((row) => ({
    kind: row['kind'] as BacklogRow['kind'],
    key: String(row['key']),
    example: String(row['example'] ?? row['key']),
    count: Number(row['count']),
    agents: Number(row['agents']),
    users: Number(row['users']),
    firstSeen: iso(row['first_seen']),
    lastSeen: iso(row['last_seen']),
    ...(row['run_id'] ? { runId: String(row['run_id']) } : {}),
    ...(row['connection'] ? { connection: String(row['connection']) } : {}),
  }));
}
