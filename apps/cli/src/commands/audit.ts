import { connectNats } from '@rungate/messaging';
import { openDatabase, verifyStoredChain, type StoredAuditEvent, type VerifyFrom } from '@rungate/persistence';
import { compareWithStream, parseAuditTime } from '@rungate/service-audit';
import type { DataSource } from 'typeorm';
import { UsageError } from '../cli/values';
import { withDataDirDatabase } from '../data-dir/embedded';
import { ApiError, AuditPage, auditApi, withApi, type AuditApi, type AuditApiOptions } from './audit-api';
import { databaseTarget, type DatabaseOptions } from './database';

function parseFrom(text: string): VerifyFrom | undefined {
  if (/^\d+$/.test(text)) return { seq: Number(text) };
  const time = parseAuditTime(text);
  return time ? { time } : undefined;
}

export interface VerifyOptions extends DatabaseOptions {
  from?: string;
  stream?: boolean;
}

/**
 * `rungate audit verify`: recomputes the hash chain from the table and, with --stream, compares
 * it with the AUDIT stream (NATS_URL). Exit 0 intact, 1 broken, 2 usage.
 */
export async function verifyAudit(options: VerifyOptions): Promise<number> {
  const from = options.from === undefined ? undefined : parseFrom(options.from);
  if (options.from !== undefined && !from) {
    throw new UsageError(`--from takes a stream sequence or a time (2025-06-01T00:00:00Z, 24h), not "${options.from}"`);
  }
  const target = databaseTarget(options);
  if (target.kind === 'data-dir') {
    if (options.stream) throw new UsageError('--stream compares with the JetStream AUDIT stream, which the embedded mode (--data-dir) has none of');
    return withDataDirDatabase(target.dir, 'rungate audit verify', (db) => verifyChain(db, from, false));
  }
  const db = await openDatabase(target.url);
  try {
    return await verifyChain(db, from, options.stream ?? false);
  } finally {
    await db.destroy();
  }
}

async function verifyChain(db: DataSource, from: VerifyFrom | undefined, withStream: boolean): Promise<number> {
  const result = await verifyStoredChain(db, from ? { from } : {});
  if (!result.ok) {
    const b = result.firstBreak;
    process.stdout.write(
      `BROKEN after ${result.checked} intact events: event seq ${b?.seq} (id ${b?.id}) is ${b?.kind === 'altered' ? 'altered: its content does not match its hash' : 'out of place: its predecessor is missing, inserted or moved'}\n  expected ${b?.expected}\n  found    ${b?.actual}\n`,
    );
    return 1;
  }
  const anchored = result.anchor ? ` from seq ${result.anchor.seq} (anchored on prev_hash ${result.anchor.prevHash})` : '';
  process.stdout.write(`intact: ${result.checked} events${anchored}, head ${result.head}\n`);
  if (!withStream) return 0;
  const nc = await connectNats({ name: 'rungate-cli-audit-verify', failFast: true });
  try {
    const fromSeq = result.anchor?.seq;
    const stream = await compareWithStream(db, nc, fromSeq === undefined ? {} : { fromSeq });
    if (stream.ok) {
      const notes = [stream.agedOut ? `${stream.agedOut} older rows no longer on the stream` : '', stream.unwritten ? `${stream.unwritten} events not yet written` : '', stream.newer ? `${stream.newer} written during the check, not compared` : '']
        .filter(Boolean)
        .join('; ');
      process.stdout.write(`matches the AUDIT stream: ${stream.compared} events compared${notes ? ` (${notes})` : ''}\n`);
      return 0;
    }
    const m = stream.firstMismatch;
    const what =
      m?.kind === 'differs'
        ? `event seq ${m.seq} (id ${m.id}) differs from what was published`
        : m?.kind === 'missing-from-table'
          ? `stream event seq ${m.seq} is missing from the table`
          : `event seq ${m?.seq} (id ${m && 'id' in m ? m.id : '?'}) was never on the stream`;
    process.stdout.write(`DIFFERS from the AUDIT stream after ${stream.compared} matching events: ${what}\n`);
    return 1;
  } finally {
    await nc.close();
  }
}

/** The filters `search` and `tail` pass to GET /audit/events, by option name → query parameter. */
const FILTERS = {
  user: 'user',
  agent: 'agent',
  runbook: 'runbook',
  type: 'type',
  run: 'runId',
  connection: 'connection',
  outcome: 'outcome',
  code: 'code',
  ip: 'ip',
  since: 'since',
  until: 'until',
} as const;

export type AuditFilters = { [K in keyof typeof FILTERS]?: string };

export interface AuditClientOptions extends AuditFilters, AuditApiOptions {
  json?: boolean;
}

interface Client {
  api: AuditApi;
  filters: URLSearchParams;
}

function client(options: AuditClientOptions): Client {
  const api = auditApi(options);
  const filters = new URLSearchParams();
  for (const [option, name] of Object.entries(FILTERS) as [keyof typeof FILTERS, string][]) {
    const value = options[option];
    if (value !== undefined) filters.set(name, value);
  }
  return { api, filters };
}

function fetchPage(c: Client, params: URLSearchParams): Promise<{ events: StoredAuditEvent[]; nextCursor?: string }> {
  return c.api.get('/audit/events', params, AuditPage);
}

function short(text: unknown, width: number): string {
  const s = typeof text === 'string' ? text : '';
  return s.length > width ? `${s.slice(0, width - 1)}…` : s;
}

/** One line per event: time, type, who, what, where, result, run. */
export function formatAuditLine(stored: StoredAuditEvent): string {
  const e = stored.event as {
    time?: string;
    type?: string;
    runId?: string;
    tool?: string;
    actor?: { user?: string; agent?: string };
    runbook?: { repository?: string; path?: string };
    connection?: { name?: string };
    decision?: { effect?: string; reason?: string };
    outcome?: { status?: string; durationMs?: number; errorCode?: string };
    subject?: string;
  };
  if (!stored.valid) return `seq ${stored.seq}  (not a valid audit event, published on ${e.subject ?? '?'})`;
  const who = e.actor ? `${e.actor.user ?? '?'}${e.actor.agent ? ` via ${e.actor.agent}` : ''}` : '-';
  const what = e.tool ?? (e.runbook ? `${e.runbook.repository}/${e.runbook.path}` : '-');
  const where = e.connection?.name ? ` @ ${e.connection.name}` : '';
  const result = e.outcome
    ? `${e.outcome.status}${e.outcome.errorCode ? ` ${e.outcome.errorCode}` : ''}${e.outcome.durationMs !== undefined ? ` ${Math.round(e.outcome.durationMs)}ms` : ''}`
    : e.decision
      ? `${e.decision.effect}${e.decision.reason ? `: ${short(e.decision.reason, 60)}` : ''}`
      : '';
  return [e.time ?? '', short(e.type, 28).padEnd(28), short(who, 48), `${what}${where}`, result, e.runId ? `run ${e.runId}` : '']
    .filter((part) => part !== '')
    .join('  ');
}

function print(events: StoredAuditEvent[], json: boolean): void {
  for (const stored of events) process.stdout.write(`${json ? JSON.stringify({ seq: stored.seq, hash: stored.hash, ...stored.event }) : formatAuditLine(stored)}\n`);
}

function guarded(run: () => Promise<number>): Promise<number> {
  return withApi('rungate audit', run);
}

export interface SearchOptions extends AuditClientOptions {
  limit: number;
  order: 'asc' | 'desc';
}

/** `rungate audit search`: pages through every match (oldest first unless --order desc) up to --limit. */
export function searchAudit(options: SearchOptions): Promise<number> {
  return guarded(async () => {
    const c = client(options);
    const json = options.json ?? false;
    let printed = 0;
    let cursor: string | undefined;
    do {
      const params = new URLSearchParams(c.filters);
      params.set('order', options.order);
      params.set('limit', String(Math.min(1000, options.limit - printed)));
      if (cursor) params.set('cursor', cursor);
      const page = await fetchPage(c, params);
      print(page.events, json);
      printed += page.events.length;
      cursor = page.nextCursor;
    } while (cursor && printed < options.limit);
    if (printed === 0 && !json) process.stderr.write('no matching audit events\n');
    return 0;
  });
}

export interface TailOptions extends AuditClientOptions {
  lines: number;
  interval: number;
}

/** `rungate audit tail`: the last --lines matches, then every new one as the chain writer stores it, until interrupted. */
export function tailAudit(options: TailOptions): Promise<number> {
  return guarded(async () => {
    const c = client(options);
    const json = options.json ?? false;
    const interval = options.interval;
    const recent = new URLSearchParams(c.filters);
    recent.set('order', 'desc');
    recent.set('limit', String(Math.min(options.lines, 1000)));
    const first = await fetchPage(c, recent);
    const backlog = first.events.reverse();
    print(backlog, json);
    let after = backlog[backlog.length - 1]?.seq ?? 0;
    if (after === 0) {
      // Nothing matches yet: follow from the table's current end, not from its beginning.
      const head = await fetchPage(c, new URLSearchParams({ order: 'desc', limit: '1' }));
      after = head.events[0]?.seq ?? 0;
    }
    let stopped = false;
    const stop = () => (stopped = true);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let failing = false;
    while (!stopped) {
      try {
        const params = new URLSearchParams(c.filters);
        params.set('after', String(after));
        params.set('limit', '1000');
        const page = await fetchPage(c, params);
        if (failing) process.stderr.write('rungate audit tail: following again\n');
        failing = false;
        print(page.events, json);
        after = page.events[page.events.length - 1]?.seq ?? after;
        if (page.nextCursor) continue;
      } catch (error) {
        if (!(error instanceof ApiError) || !error.transient) throw error;
        if (!failing) process.stderr.write(`rungate audit tail: ${error.message}; retrying\n`);
        failing = true;
      }
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
    return 0;
  });
}
