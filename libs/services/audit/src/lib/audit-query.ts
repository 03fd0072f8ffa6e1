import type { AuditQuery, BacklogQuery, SessionQuery } from '@rungate/persistence';
import { z } from 'zod';

const RELATIVE = /^(\d{1,9})(s|m|h|d|w)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
/** An RFC 3339 date or date-time; `Date.parse` alone accepts far too much. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** `2025-06-01`, `2025-06-01T12:00:00Z`, or a look-back such as `15m`, `24h`, `7d`. */
export function parseAuditTime(text: string, now = Date.now()): Date | undefined {
  const relative = RELATIVE.exec(text);
  if (relative) return new Date(now - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS]);
  if (!TIMESTAMP.test(text)) return undefined;
  const time = Date.parse(text);
  return Number.isNaN(time) ? undefined : new Date(time);
}

const Text = z.string().min(1).max(512);
const Time = z.string().transform((text, ctx) => {
  const time = parseAuditTime(text);
  if (!time) {
    ctx.addIssue({ code: 'custom', message: 'expected an RFC 3339 time (2025-06-01T12:00:00Z) or a look-back such as 15m, 24h, 7d' });
    return z.NEVER;
  }
  return time;
});

/**
 * The query string of `GET /audit/events`. Unknown parameters are refused, so a misspelt
 * filter never silently returns everything.
 */
export const AuditQueryParams = z
  .strictObject({
    user: Text.optional(),
    agent: Text.optional(),
    runbook: Text.optional(),
    type: Text.optional(),
    runId: Text.optional(),
    connection: Text.optional(),
    outcome: Text.optional(),
    code: Text.optional(),
    ip: Text.optional(),
    since: Time.optional(),
    until: Time.optional(),
    after: z.string().regex(/^\d{1,15}$/, 'a stream sequence').transform(Number).optional(),
    order: z.enum(['asc', 'desc']).default('asc'),
    limit: z.string().regex(/^\d{1,4}$/, 'a number from 1 to 1000').transform(Number).pipe(z.number().int().min(1).max(1000)).default(100),
    cursor: z.string().max(100).optional(),
  })
  .transform(({ after, ...rest }): AuditQuery => ({ ...rest, ...(after !== undefined ? { afterSeq: after } : {}) }));

export function describeQueryError(error: z.ZodError, filters = 'user, agent, runbook, type, runId, connection, outcome, code, ip, since, until, after, order, limit, cursor'): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') return `unknown parameter(s) ${issue.keys.join(', ')}; filters are ${filters}`;
      return `${issue.path.join('.') || 'query'}: ${issue.message}`;
    })
    .join('; ');
}

/** `GET /audit/sessions`: exploration sessions, most recently active first (default: the last 7 days). */
export const SessionQueryParams = z
  .strictObject({
    user: Text.optional(),
    agent: Text.optional(),
    since: Time.optional(),
    until: Time.optional(),
    unreviewed: z.enum(['true', 'false']).transform((value) => value === 'true').optional(),
    limit: z.string().regex(/^\d{1,4}$/, 'a number from 1 to 1000').transform(Number).pipe(z.number().int().min(1).max(1000)).default(50),
  })
  .transform((query): SessionQuery => ({ ...query, since: query.since ?? new Date(Date.now() - 7 * UNIT_MS.d) }));

/** `GET /audit/backlog`: what agents asked for and could not do (default: the last 30 days). */
export const BacklogQueryParams = z
  .strictObject({
    since: Time.optional(),
    limit: z.string().regex(/^\d{1,3}$/, 'a number from 1 to 500').transform(Number).pipe(z.number().int().min(1).max(500)).default(20),
  })
  .transform((query): BacklogQuery & { limit: number } => ({ limit: query.limit, since: query.since ?? new Date(Date.now() - 30 * UNIT_MS.d) }));
