/**
 * A run's status, as `audit_runs` shows it: a state machine over the run's events in chain
 * order, not whatever its last event says. A run moves forward only:
 *
 *   received → decided | awaiting_approval → approved → started → outcome_unknown → succeeded | failed | timed_out | cancelled
 *                 ↘ denied | rejected | expired | withdrawn | refused (ended without running)
 *
 * so events that arrive later about other attempts at the same run id — a replayed ticket
 * refused, a retry denied or decided again, the gateway's late "outcome unknown" — are on
 * the record but never move a run backwards. Two exceptions, both towards the truth:
 * - a run that ended without running is reopened by a new decision for its id (a retry with
 *   the same idempotency key after a denial runs under the same id);
 * - a definite outcome replaces outcome_unknown (the executor's report wins over the
 *   gateway's guess that it was lost).
 */
export const RUN_STATUSES = [
  'received',
  'decided',
  'awaiting_approval',
  'approved',
  'denied',
  'rejected',
  'expired',
  'withdrawn',
  'refused',
  'started',
  'outcome_unknown',
  'succeeded',
  'failed',
  'timed_out',
  'cancelled',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** The parts of an audit event the status depends on. */
export interface RunStatusEvent {
  type: string;
  decision?: { effect: string };
  outcome?: { status: string; errorCode?: string };
}

/** How far along a run is; a status only gives way to one further along. */
const PROGRESS: Record<RunStatus, number> = {
  received: 0,
  decided: 1,
  awaiting_approval: 1,
  approved: 2,
  denied: 3,
  rejected: 3,
  expired: 3,
  withdrawn: 3,
  refused: 3,
  started: 4,
  outcome_unknown: 5,
  succeeded: 6,
  failed: 6,
  timed_out: 6,
  cancelled: 6,
};

const ENDED_WITHOUT_RUNNING: ReadonlySet<RunStatus> = new Set(['denied', 'rejected', 'expired', 'withdrawn', 'refused']);
const NEW_DECISION: ReadonlySet<RunStatus> = new Set(['decided', 'awaiting_approval']);

function outcomeStatus(outcome: NonNullable<RunStatusEvent['outcome']>): RunStatus | undefined {
  switch (outcome.status) {
    case 'succeeded':
    case 'refused':
    case 'denied':
    case 'timed_out':
    case 'cancelled':
      return outcome.status;
    case 'failed':
      // Executors before `timed_out` existed report a timeout as failed with code TIMEOUT.
      return outcome.errorCode === 'TIMEOUT' ? 'timed_out' : 'failed';
    case 'unknown':
      return 'outcome_unknown';
    default:
      return undefined;
  }
}

/** What one event says about its run, or undefined when it says nothing (admin, catalog, unknown types). */
export function statusOfEvent(event: RunStatusEvent): RunStatus | undefined {
  switch (event.type) {
    case 'audit.run.received':
      return 'received';
    case 'audit.run.decided':
      if (event.outcome) return outcomeStatus(event.outcome);
      if (event.decision?.effect === 'allow') return 'decided';
      if (event.decision?.effect === 'deny') return 'denied';
      if (event.decision?.effect === 'approval_required') return 'awaiting_approval';
      return undefined;
    case 'audit.attempt.denied':
      // A refused attempt that got as far as a run id (ADR 17): the run ended without running.
      return 'denied';
    case 'audit.run.approved':
      return 'approved';
    case 'audit.run.rejected':
      return 'rejected';
    case 'audit.run.expired':
      // Its approval ttl ran out, or its change window closed before it could start (ADR 18).
      return 'expired';
    case 'audit.run.withdrawn':
      return 'withdrawn';
    case 'audit.run.started':
      return 'started';
    case 'audit.run.completed':
    case 'audit.run.failed':
      return event.outcome ? outcomeStatus(event.outcome) : undefined;
    default:
      return undefined;
  }
}

/** The run's status after one more of its events, in chain order. Pure. */
export function nextRunStatus(current: RunStatus | undefined, event: RunStatusEvent): RunStatus | undefined {
  const candidate = statusOfEvent(event);
  if (candidate === undefined) return current;
  if (current === undefined) return candidate;
  if (ENDED_WITHOUT_RUNNING.has(current) && NEW_DECISION.has(candidate)) return candidate;
  return PROGRESS[candidate] > PROGRESS[current] ? candidate : current;
}

/** The status of a run from all its events, in chain order. */
export function foldRunStatus(events: Iterable<RunStatusEvent>, initial?: RunStatus): RunStatus | undefined {
  let status = initial;
  for (const event of events) status = nextRunStatus(status, event);
  return status;
}

export function isRunStatus(value: unknown): value is RunStatus {
  return typeof value === 'string' && (RUN_STATUSES as readonly string[]).includes(value);
}
