import { createHash, randomUUID } from 'node:crypto';
import { ANONYMOUS_ACTOR, AttemptEventTypes, type AttemptCode, type AuditActor, type AuditEventInput, type Identity, type RequestMeta } from '@rungate/contracts';
import type { AuditSink } from './audit-publisher';
import { AttemptLimiter, type AttemptLimits, type SuppressedWindow } from './attempt-limiter';

/** A tool name in an attempt event is cut here; its length and digest still identify it. */
export const ATTEMPT_TOOL_CHARS = 256;
const REASON_CHARS = 1000;
/** Counter events waiting for the stream to take them; beyond, the oldest are logged and dropped. */
const MAX_PENDING_COUNTERS = 10_000;

/** Which process counted: limits are per replica of a service, and the counter event says whose. */
export interface Replica {
  service: string;
  host: string;
  pid: number;
}

/** One attempt that ran nothing, as the service that refused it knows it. */
export interface Attempt {
  source: string;
  actor: AuditActor;
  code: AttemptCode;
  /** Why, for the audit trail (may say more than the caller was told). */
  reason: string;
  /** What the caller was answered: an error code (`UNKNOWN_TOOL`), `jsonrpc:<code>` or `http:<status>`. */
  answered: string;
  /** The tool name exactly as requested. */
  tool?: string;
  runId?: string;
  runbook?: AuditEventInput['runbook'];
  connection?: AuditEventInput['connection'];
  params?: AuditEventInput['params'];
  decision?: AuditEventInput['decision'];
  guardrails?: AuditEventInput['guardrails'];
  details?: Record<string, unknown>;
}

/** Who made a call, as every audit event names them: the human, the agent, the token, where from. */
export function actorOf(identity: Identity, meta: RequestMeta): AuditActor {
  return { user: identity.user, groups: identity.groups, agent: identity.agent, tokenId: identity.tokenId, ...meta };
}

/** An actor nobody could be named for: where the request came from, and nothing else. */
export function anonymousActor(meta: RequestMeta): AuditActor {
  return { user: ANONYMOUS_ACTOR, groups: [], ...meta };
}

function clip(text: string, chars: number): string {
  return text.length > chars ? `${text.slice(0, chars)}…` : text;
}

/** The `audit.attempt.denied` event of an attempt: the tool and reason bounded, whatever the caller sent. */
export function attemptEvent(attempt: Attempt): AuditEventInput {
  const { source, actor, code, reason, answered, tool, details, ...run } = attempt;
  const longTool = tool !== undefined && tool.length > ATTEMPT_TOOL_CHARS;
  return {
    type: AttemptEventTypes.denied,
    source,
    actor,
    ...(tool === undefined ? {} : { tool: clip(tool, ATTEMPT_TOOL_CHARS) }),
    ...run,
    outcome: { status: 'denied', errorCode: code, error: clip(reason, REASON_CHARS) },
    details: {
      answered,
      ...(longTool ? { toolLength: tool.length, toolSha256: createHash('sha256').update(tool).digest('hex') } : {}),
      ...details,
    },
  };
}

/**
 * Whose attempts are limited together: the token (static tokens and stored ones have an id),
 * else the human and agent (an access token without an id), else — nobody authenticated —
 * the source address.
 */
export function attemptKey(actor: AuditActor): string {
  if (actor.tokenId) return `token:${actor.tokenId}`;
  if (actor.user !== ANONYMOUS_ACTOR) return `user:${actor.user}/${actor.agent ?? ''}`;
  return `source:${actor.ip ?? 'unknown'}`;
}

/** The `audit.attempt.suppressed` event of one window. */
export function suppressedEvent(window: SuppressedWindow, limits: AttemptLimits, replica: Replica): AuditEventInput {
  return {
    type: AttemptEventTypes.suppressed,
    source: replica.service,
    actor: window.actor,
    outcome: { status: 'denied', errorCode: 'suppressed', error: `${window.suppressed} more attempts in this window were counted, not recorded one by one` },
    details: {
      key: window.key,
      window: { start: new Date(window.start).toISOString(), end: new Date(window.end).toISOString() },
      limit: limits.events,
      recorded: window.recorded,
      suppressed: window.suppressed,
      byCode: window.byCode,
      replica,
    },
  };
}

export interface AttemptAuditorOptions {
  limits: () => AttemptLimits;
  replica: Replica;
  log: { error(message: string): void };
  now?: () => number;
}

/**
 * Records attempts that ran nothing, bounded per key (ADR 17): the first `events` of a window
 * one by one, then one `audit.attempt.suppressed` event per window with how many more there
 * were, by code. Nothing is dropped silently and a flood cannot grow the stream without bound.
 * State is per process (per replica of the service); the counter event names the replica.
 */
export class AttemptAuditor {
  private readonly limiter: AttemptLimiter;
  private readonly now: () => number;
  private pending: AuditEventInput[] = [];
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly sink: AuditSink,
    private readonly options: AttemptAuditorOptions,
  ) {
    this.limiter = new AttemptLimiter(options.limits);
    this.now = options.now ?? Date.now;
  }

  /**
   * Publishes the attempt's event (resolving once the stream took it), or counts it past the
   * limit. Rejects as the sink does (AUDIT_UNAVAILABLE) when it cannot be stored.
   */
  async record(attempt: Attempt): Promise<'recorded' | 'counted'> {
    if (!this.limiter.admit(attemptKey(attempt.actor), attempt.actor, attempt.code, this.now())) return 'counted';
    await this.sink.publish(attemptEvent(attempt));
    return 'recorded';
  }

  /** Counts an attempt that is never recorded one by one (a 429 answered before the token was looked at). */
  count(actor: AuditActor, code: AttemptCode): void {
    this.limiter.count(attemptKey(actor), actor, code, this.now());
  }

  /** Checks for ended windows every second (or every window, if shorter), until `stop`. */
  start(): void {
    const every = Math.min(1000, this.options.limits().windowMs);
    this.timer = setInterval(() => void this.flush(), every);
    this.timer.unref();
  }

  /** Publishes one counter event per ended window that counted attempts (every window, when `all`). */
  flush(all = false): Promise<void> {
    this.flushing = this.flushing.then(() => this.publishCounters(all));
    return this.flushing;
  }

  /** Stops the timer and publishes the counts of windows still open: a shutdown loses no count. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush(true);
  }

  private async publishCounters(all: boolean): Promise<void> {
    const limits = this.options.limits();
    // Each gets its id now: a retry after a lost ack is then stored once (the stream's duplicate window).
    this.pending.push(...this.limiter.drain(this.now(), all).map((window) => ({ ...suppressedEvent(window, limits, this.options.replica), id: randomUUID() })));
    if (this.pending.length > MAX_PENDING_COUNTERS) {
      const lost = this.pending.splice(0, this.pending.length - MAX_PENDING_COUNTERS);
      this.options.log.error(`the audit stream has not taken ${lost.length} attempt counter events for a long time; dropped: ${JSON.stringify(lost.map((e) => e.details))}`);
    }
    while (this.pending.length > 0) {
      try {
        await this.sink.publish(this.pending[0] as AuditEventInput);
      } catch (error) {
        // Kept, and tried again at the next tick: a count is never dropped silently.
        this.options.log.error(`could not record ${this.pending.length} attempt counter event(s); retrying: ${(error as Error).message}`);
        return;
      }
      this.pending.shift();
    }
  }
}
