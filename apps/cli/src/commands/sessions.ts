import { SessionSummary, SessionTranscript } from '@rungate/contracts';
import { formatTranscript } from '@rungate/exploration';
import { z } from 'zod';
import { auditApi, withApi, type AuditApiOptions } from './audit-api';

const REVIEWER = 'a user in an auditor or reviewer group (audit.auditorGroups, audit.reviewerGroups)';

export interface SessionListOptions extends AuditApiOptions {
  since?: string;
  until?: string;
  user?: string;
  agent?: string;
  unreviewed?: boolean;
  limit: number;
  json?: boolean;
}

/** `rungate sessions list`: exploration sessions, most recently active first. */
export function listSessions(options: SessionListOptions): Promise<number> {
  return withApi('rungate sessions', async () => {
    const api = auditApi(options, REVIEWER);
    const params = new URLSearchParams({ limit: String(Math.min(options.limit, 1000)) });
    for (const key of ['since', 'until', 'user', 'agent'] as const) {
      const value = options[key];
      if (value !== undefined) params.set(key, value);
    }
    if (options.unreviewed) params.set('unreviewed', 'true');
    const { sessions } = await api.get('/audit/sessions', params, z.object({ sessions: z.array(SessionSummary) }));
    if (options.json) {
      for (const session of sessions) process.stdout.write(`${JSON.stringify(session)}\n`);
      return 0;
    }
    if (sessions.length === 0) {
      process.stderr.write('no exploration sessions in this period\n');
      return 0;
    }
    for (const s of sessions) {
      const who = `${s.user}${s.agent ? ` via ${s.agent}` : ''}`;
      const reviewed = s.reviews > 0 ? `reviewed ×${s.reviews}` : 'not reviewed';
      process.stdout.write(`${s.id}  ${s.lastSeen}  ${who}  ${s.calls} call(s), ${s.refused} refused  ${s.tools.join(',')} on ${s.connections.join(',') || '-'}  ${reviewed}\n`);
    }
    return 0;
  });
}

export interface SessionShowOptions extends AuditApiOptions {
  json?: boolean;
}

/** `rungate sessions show ID`: the session as a transcript a reviewer reads. */
export function showSession(id: string, options: SessionShowOptions): Promise<number> {
  return withApi('rungate sessions', async () => {
    const transcript = await auditApi(options, REVIEWER).get(`/audit/sessions/${encodeURIComponent(id)}`, new URLSearchParams(), SessionTranscript);
    process.stdout.write(options.json ? `${JSON.stringify(transcript, null, 2)}\n` : formatTranscript(transcript));
    return 0;
  });
}

export interface SessionReviewOptions extends AuditApiOptions {
  comment: string;
}

/** `rungate sessions review ID --comment …`: an audited review, by someone other than the explorer. */
export function reviewSession(id: string, options: SessionReviewOptions): Promise<number> {
  return withApi('rungate sessions', async () => {
    const { review } = await auditApi(options, REVIEWER).post(
      `/audit/sessions/${encodeURIComponent(id)}/review`,
      { comment: options.comment },
      z.object({ review: z.object({ time: z.string(), reviewer: z.string(), comment: z.string() }) }),
    );
    process.stdout.write(`reviewed ${id} at ${review.time} as ${review.reviewer}\n`);
    return 0;
  });
}
