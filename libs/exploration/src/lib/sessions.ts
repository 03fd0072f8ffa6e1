import { createHash } from 'node:crypto';
import type { AuditEvent, SessionId, SessionReview, SessionSummary, SessionTranscript, TranscriptEntry } from '@rungate/contracts';

export interface SessionCaller {
  user: string;
  agent?: string;
  tokenId?: string;
}

/**
 * The exploration session a call belongs to (ADR 19): one per MCP session when the client
 * sends back the `Mcp-Session-Id` the gateway gave it, else one per token and UTC hour. The
 * caller is always part of the key, so an id a client invents can split its own session but
 * never join someone else's.
 */
export function explorationSessionId(caller: SessionCaller, mcpSession: string | undefined, now: Date): SessionId {
  const window = mcpSession !== undefined ? `mcp:${mcpSession}` : `hour:${now.toISOString().slice(0, 13)}`;
  const key = [caller.user, caller.tokenId ?? '', caller.agent ?? '', window].join('\u0000');
  return `ses_${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
}

type Outcome = NonNullable<AuditEvent['outcome']>;

function detail<T>(event: AuditEvent, key: string, guard: (value: unknown) => value is T): T | undefined {
  const value = event.details?.[key];
  return guard(value) ? value : undefined;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isNumber = (value: unknown): value is number => typeof value === 'number';

/** The outcome that says how a run ended: the last one recorded, whoever recorded it. */
function finalOutcome(events: readonly AuditEvent[]): { event: AuditEvent; outcome: Outcome } | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i] as AuditEvent;
    if (event.outcome && event.type !== 'audit.run.decided') return { event, outcome: event.outcome };
  }
  return undefined;
}

function entryOf(decided: AuditEvent, events: readonly AuditEvent[]): TranscriptEntry {
  const allowed = decided.decision?.effect === 'allow';
  const end = finalOutcome(events);
  const outcome = end?.outcome;
  const rowCount = end ? detail(end.event, 'rowCount', isNumber) : undefined;
  const fingerprint = detail(decided, 'fingerprint', isString);
  return {
    runId: decided.runId ?? '',
    time: decided.time,
    tool: decided.tool ?? '',
    ...(decided.connection ? { connection: decided.connection.name } : {}),
    request: decided.params ?? {},
    decision: allowed ? 'allow' : 'deny',
    ...(!allowed && decided.decision?.reason ? { reason: decided.decision.reason } : {}),
    ...(allowed && outcome ? { status: outcome.status } : allowed ? { status: 'unknown' } : { status: 'denied' }),
    ...(outcome?.rows !== undefined ? { rows: outcome.rows } : {}),
    ...(rowCount !== undefined ? { rowCount } : {}),
    ...(outcome?.bytes !== undefined ? { bytes: outcome.bytes } : {}),
    ...(outcome?.truncated !== undefined ? { truncated: outcome.truncated } : {}),
    ...(outcome?.durationMs !== undefined ? { durationMs: outcome.durationMs } : {}),
    ...(outcome?.errorCode !== undefined ? { errorCode: outcome.errorCode } : {}),
    ...(outcome?.error !== undefined ? { error: outcome.error } : {}),
    ...(outcome?.masking ? { masked: outcome.masking.counts } : {}),
    ...(fingerprint ? { fingerprint } : {}),
  };
}

/**
 * A session as a reviewer reads it (`rungate sessions show`), from the audit events of its
 * runs in chain order: each call's full request, the decision and, for those that ran, how they
 * ended — rows, bytes, duration, what was masked — never the rows themselves, which the audit
 * trail does not hold.
 */
export function sessionTranscript(id: SessionId, events: readonly AuditEvent[]): SessionTranscript | undefined {
  const byRun = new Map<string, AuditEvent[]>();
  const decisions: AuditEvent[] = [];
  const reviews: SessionReview[] = [];
  for (const event of events) {
    if (event.type === 'audit.admin.session.reviewed' && event.details?.['session'] === id) {
      reviews.push({ time: event.time, reviewer: event.actor?.user ?? 'unknown', comment: detail(event, 'comment', isString) ?? '' });
      continue;
    }
    if (!event.runId) continue;
    const run = byRun.get(event.runId) ?? [];
    run.push(event);
    byRun.set(event.runId, run);
    if (event.type === 'audit.run.decided' && event.details?.['session'] === id) decisions.push(event);
  }
  const first = decisions[0];
  const last = decisions[decisions.length - 1];
  if (!first || !last) return undefined;
  const entries = decisions.map((decided) => entryOf(decided, byRun.get(decided.runId ?? '') ?? []));
  const session: SessionSummary = {
    id,
    user: first.actor?.user ?? 'unknown',
    ...(first.actor?.agent ? { agent: first.actor.agent } : {}),
    firstSeen: first.time,
    lastSeen: last.time,
    calls: entries.length,
    refused: entries.filter((entry) => entry.decision === 'deny').length,
    tools: [...new Set(entries.map((entry) => entry.tool))].sort(),
    connections: [...new Set(entries.flatMap((entry) => (entry.connection ? [entry.connection] : [])))].sort(),
    reviews: reviews.length,
  };
  return { session, entries, reviews };
}

/** A transcript as plain text, one block per call: what `rungate sessions show` prints. */
export function formatTranscript(transcript: SessionTranscript): string {
  const { session } = transcript;
  const lines = [
    `session ${session.id}: ${session.user}${session.agent ? ` via ${session.agent}` : ''}, ${session.calls} call(s), ${session.refused} refused, ${session.firstSeen} – ${session.lastSeen}`,
    `  tools ${session.tools.join(', ') || '-'}; connections ${session.connections.join(', ') || '-'}`,
  ];
  transcript.entries.forEach((entry, index) => {
    lines.push('', `#${index + 1} ${entry.time} ${entry.tool}${entry.connection ? ` on ${entry.connection}` : ''}  run ${entry.runId}`);
    for (const [key, value] of Object.entries(entry.request)) {
      const [head = '', ...rest] = value.split('\n');
      lines.push(`   ${key}: ${head}`, ...rest.map((line) => `   ${' '.repeat(key.length + 2)}${line}`));
    }
    if (entry.decision === 'deny') {
      lines.push(`   refused: ${entry.reason ?? 'denied'}`);
      return;
    }
    const size = [
      entry.rows !== undefined ? `${entry.rows} row(s) returned${entry.rowCount !== undefined && entry.rowCount !== entry.rows ? ` of ${entry.rowCount}` : ''}` : undefined,
      entry.truncated ? 'truncated' : undefined,
      entry.bytes !== undefined ? `${entry.bytes} bytes` : undefined,
      entry.durationMs !== undefined ? `${Math.round(entry.durationMs)} ms` : undefined,
    ].filter(Boolean);
    lines.push(`   ${entry.status ?? 'unknown'}${size.length ? `: ${size.join(', ')}` : ''}`);
    if (entry.masked && Object.keys(entry.masked).length > 0) {
      lines.push(`   masked: ${Object.entries(entry.masked).map(([kind, count]) => `${kind} ${count}`).join(', ')}`);
    }
    if (entry.errorCode) lines.push(`   ${entry.errorCode}: ${entry.error ?? ''}`);
  });
  lines.push('');
  if (transcript.reviews.length === 0) lines.push('not reviewed yet: rungate sessions review ' + session.id + ' --comment "…"');
  for (const review of transcript.reviews) lines.push(`reviewed ${review.time} by ${review.reviewer}: ${review.comment}`);
  return `${lines.join('\n')}\n`;
}
