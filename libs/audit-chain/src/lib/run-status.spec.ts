import { RUN_STATUSES, foldRunStatus, nextRunStatus, statusOfEvent, type RunStatus, type RunStatusEvent } from './run-status';

/** One event that says each status, as the services publish them. */
const EVENT_FOR: Record<RunStatus, RunStatusEvent> = {
  received: { type: 'audit.run.received' },
  decided: { type: 'audit.run.decided', decision: { effect: 'allow' } },
  awaiting_approval: { type: 'audit.run.decided', decision: { effect: 'approval_required' } },
  approved: { type: 'audit.run.approved' },
  // How policy records a refusal since issue 15; an older policy's audit.run.decided deny reads the same (below).
  denied: { type: 'audit.attempt.denied', decision: { effect: 'deny' }, outcome: { status: 'denied', errorCode: 'no-rule' } },
  rejected: { type: 'audit.run.rejected' },
  expired: { type: 'audit.run.expired' },
  withdrawn: { type: 'audit.run.withdrawn' },
  refused: { type: 'audit.run.failed', outcome: { status: 'refused', errorCode: 'TICKET_REPLAYED' } },
  started: { type: 'audit.run.started' },
  outcome_unknown: { type: 'audit.run.failed', outcome: { status: 'unknown', errorCode: 'OUTCOME_UNKNOWN' } },
  succeeded: { type: 'audit.run.completed', outcome: { status: 'succeeded' } },
  failed: { type: 'audit.run.failed', outcome: { status: 'failed', errorCode: 'EXECUTION_FAILED' } },
  timed_out: { type: 'audit.run.failed', outcome: { status: 'timed_out', errorCode: 'TIMEOUT' } },
  cancelled: { type: 'audit.run.failed', outcome: { status: 'cancelled', errorCode: 'CANCELLED' } },
};

const FINAL: RunStatus[] = ['succeeded', 'failed', 'timed_out', 'cancelled'];
const AFTER_DECISION: RunStatus[] = ['approved', 'denied', 'rejected', 'expired', 'withdrawn', 'refused', 'started', 'outcome_unknown', ...FINAL];

/** Every status and the events that move it; every other event leaves it where it is. */
const MOVES: Record<RunStatus, RunStatus[]> = {
  received: RUN_STATUSES.filter((s) => s !== 'received'),
  decided: AFTER_DECISION,
  awaiting_approval: AFTER_DECISION,
  approved: ['denied', 'rejected', 'expired', 'withdrawn', 'refused', 'started', 'outcome_unknown', ...FINAL],
  // Ended without running: a new decision for the same id reopens it; so does its own start.
  denied: ['decided', 'awaiting_approval', 'started', 'outcome_unknown', ...FINAL],
  rejected: ['decided', 'awaiting_approval', 'started', 'outcome_unknown', ...FINAL],
  expired: ['decided', 'awaiting_approval', 'started', 'outcome_unknown', ...FINAL],
  withdrawn: ['decided', 'awaiting_approval', 'started', 'outcome_unknown', ...FINAL],
  refused: ['decided', 'awaiting_approval', 'started', 'outcome_unknown', ...FINAL],
  started: ['outcome_unknown', ...FINAL],
  outcome_unknown: FINAL,
  succeeded: [],
  failed: [],
  timed_out: [],
  cancelled: [],
};

describe('run status state machine', () => {
  it('reads each event type as the status it reports', () => {
    for (const status of RUN_STATUSES) expect(statusOfEvent(EVENT_FOR[status])).toBe(status);
  });

  it('reads a timeout reported the older way (failed, TIMEOUT) as timed_out', () => {
    expect(statusOfEvent({ type: 'audit.run.failed', outcome: { status: 'failed', errorCode: 'TIMEOUT' } })).toBe('timed_out');
  });

  it('reads a denial recorded the older way (audit.run.decided, deny) as denied too', () => {
    expect(statusOfEvent({ type: 'audit.run.decided', decision: { effect: 'deny' }, outcome: { status: 'denied', errorCode: 'no-rule' } })).toBe('denied');
  });

  it('ignores events that say nothing about a run', () => {
    expect(statusOfEvent({ type: 'audit.admin.config_changed' })).toBeUndefined();
    expect(statusOfEvent({ type: 'audit.run.completed' })).toBeUndefined();
    expect(statusOfEvent({ type: 'audit.run.failed', outcome: { status: 'something-new' } })).toBeUndefined();
    expect(nextRunStatus('succeeded', { type: 'audit.catalog.rejected' })).toBe('succeeded');
    expect(nextRunStatus(undefined, { type: 'audit.admin.token_created' })).toBeUndefined();
  });

  it('starts a run at whatever its first event says', () => {
    for (const status of RUN_STATUSES) expect(nextRunStatus(undefined, EVENT_FOR[status])).toBe(status);
  });

  describe.each(RUN_STATUSES)('from %s', (from) => {
    it.each(RUN_STATUSES)(`on an event saying %s`, (to) => {
      const expected = MOVES[from].includes(to) ? to : from;
      expect(nextRunStatus(from, EVENT_FOR[to])).toBe(expected);
    });
  });

  it('keeps a committed run succeeded when a replay of its ticket is refused afterwards', () => {
    const events = [EVENT_FOR.decided, EVENT_FOR.started, EVENT_FOR.succeeded, EVENT_FOR.decided, EVENT_FOR.refused];
    expect(foldRunStatus(events)).toBe('succeeded');
  });

  it('lets a run start after a racing replay was refused before the start was written', () => {
    expect(foldRunStatus([EVENT_FOR.decided, EVENT_FOR.refused, EVENT_FOR.started])).toBe('started');
    expect(foldRunStatus([EVENT_FOR.decided, EVENT_FOR.refused, EVENT_FOR.started, EVENT_FOR.failed])).toBe('failed');
  });

  it("takes the executor's outcome over the gateway's unknown, in either order", () => {
    expect(foldRunStatus([EVENT_FOR.decided, EVENT_FOR.started, EVENT_FOR.outcome_unknown, EVENT_FOR.succeeded])).toBe('succeeded');
    expect(foldRunStatus([EVENT_FOR.decided, EVENT_FOR.started, EVENT_FOR.succeeded, EVENT_FOR.outcome_unknown])).toBe('succeeded');
  });

  it('reopens a denied run id when a retry with its idempotency key is allowed', () => {
    expect(foldRunStatus([EVENT_FOR.denied, EVENT_FOR.decided])).toBe('decided');
    expect(foldRunStatus([EVENT_FOR.denied, EVENT_FOR.decided, EVENT_FOR.started, EVENT_FOR.succeeded])).toBe('succeeded');
  });

  it('ends a held run expired or withdrawn, and one approved whose change window closed unstarted expired (ADR 18)', () => {
    expect(foldRunStatus([EVENT_FOR.awaiting_approval, EVENT_FOR.expired])).toBe('expired');
    expect(foldRunStatus([EVENT_FOR.awaiting_approval, EVENT_FOR.withdrawn])).toBe('withdrawn');
    expect(foldRunStatus([EVENT_FOR.awaiting_approval, EVENT_FOR.approved, EVENT_FOR.expired])).toBe('expired');
    // A late approval refused after expiry is an attempt on the record; it never reopens the run.
    expect(foldRunStatus([EVENT_FOR.awaiting_approval, EVENT_FOR.expired, EVENT_FOR.approved])).toBe('expired');
  });

  it('keeps the first final outcome', () => {
    expect(foldRunStatus([EVENT_FOR.started, EVENT_FOR.timed_out, EVENT_FOR.failed])).toBe('timed_out');
    expect(foldRunStatus([EVENT_FOR.started, EVENT_FOR.cancelled, EVENT_FOR.succeeded])).toBe('cancelled');
  });

  it('continues from a stored status', () => {
    expect(foldRunStatus([EVENT_FOR.refused], 'succeeded')).toBe('succeeded');
    expect(foldRunStatus([EVENT_FOR.succeeded], 'started')).toBe('succeeded');
  });
});
