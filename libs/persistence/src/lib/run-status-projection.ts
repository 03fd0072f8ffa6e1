import { isRunStatus, nextRunStatus, type RunStatus, type RunStatusEvent } from '@rungate/audit-chain';

interface Queryable {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

/** One chained event of a run, in chain order. */
export interface RunEvent {
  seq: number;
  runId: string;
  event: RunStatusEvent;
}

/** How many runs' statuses a sole writer remembers (KnownRunStatuses); an older run's is read again. */
const KNOWN_RUNS = 10_000;

/**
 * The statuses of the runs a sole chain writer projected lately (AuditStoreOptions.soleWriter):
 * nothing else writes `audit_run_status`, so what it committed is what is stored, and a run's
 * next event (its `started` after `decided`, its outcome after `started`) need not read it
 * back — one statement fewer in those commits (issue 19). Learned only once a commit
 * succeeded; forgotten on any failure.
 */
export class KnownRunStatuses {
  /** undefined: known to have no status row. */
  private readonly statuses = new Map<string, RunStatus | undefined>();

  has(runId: string): boolean {
    return this.statuses.has(runId);
  }

  get(runId: string): RunStatus | undefined {
    return this.statuses.get(runId);
  }

  /** What a committed projection left: each run's status as now stored. */
  learn(statuses: ReadonlyMap<string, RunStatus | undefined>): void {
    for (const [runId, status] of statuses) {
      this.statuses.delete(runId);
      this.statuses.set(runId, status);
    }
    for (const runId of this.statuses.keys()) {
      if (this.statuses.size <= KNOWN_RUNS) break;
      this.statuses.delete(runId);
    }
  }

  forget(): void {
    this.statuses.clear();
  }
}

/** A statement as the projection (and the embedded log's one-message commits) send it. */
export interface Statement {
  sql: string;
  params: unknown[];
}

/** The read of stored statuses (rows run_id, status) of the run ids `runIds` names: `$1`, or a function's argument. */
export function runStatusReadSql(runIds: string): string {
  return `SELECT run_id, status FROM audit_run_status WHERE run_id = ANY(${runIds}::text[])`;
}

/** Reads the stored statuses of `runIds` (rows run_id, status). */
export function runStatusRead(runIds: readonly string[]): Statement {
  return { sql: runStatusReadSql('$1'), params: [[...runIds]] };
}

/** The upsert of the statuses `changes` names (a JSON array of run_id, status, status_seq): `$1`, or a function's argument. */
export function runStatusUpsertSql(changes: string): string {
  return `INSERT INTO audit_run_status (run_id, status, status_seq)
       SELECT run_id, status, status_seq FROM jsonb_populate_recordset(NULL::audit_run_status, ${changes}::jsonb)
     ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, status_seq = EXCLUDED.status_seq`;
}

/** The statuses as read by runStatusRead, by run id; a run without a row is undefined. */
export function readRunStatuses(runIds: readonly string[], rows: readonly { run_id: string; status: string }[]): Map<string, RunStatus | undefined> {
  const statuses = new Map<string, RunStatus | undefined>(runIds.map((runId) => [runId, undefined]));
  for (const row of rows) statuses.set(row.run_id, isRunStatus(row.status) ? row.status : undefined);
  return statuses;
}

/**
 * The projection of `events` before anything is read: the statuses it starts from (what
 * `known` or `given` hold; the other runs are `unknown`, assumed to have no row until read),
 * what they become, and the change to store (`changes`, the JSON runStatusUpsertSql takes).
 */
export function planRunStatuses(
  events: readonly RunEvent[],
  known?: KnownRunStatuses,
  given: ReadonlyMap<string, RunStatus | undefined> = new Map(),
): { unknown: string[]; statuses: Map<string, RunStatus | undefined>; changes?: string } {
  const statuses = new Map<string, RunStatus | undefined>();
  const unknown: string[] = [];
  for (const runId of new Set(events.map((e) => e.runId))) {
    if (given.has(runId)) statuses.set(runId, given.get(runId));
    else if (known?.has(runId)) statuses.set(runId, known.get(runId));
    else {
      unknown.push(runId);
      statuses.set(runId, undefined);
    }
  }
  const changed = new Map<string, { run_id: string; status: RunStatus; status_seq: number }>();
  for (const { seq, runId, event } of events) {
    const before = statuses.get(runId);
    const after = nextRunStatus(before, event);
    if (after === undefined || after === before) continue;
    statuses.set(runId, after);
    changed.set(runId, { run_id: runId, status: after, status_seq: seq });
  }
  if (changed.size === 0) return { unknown, statuses };
  return { unknown, statuses, changes: JSON.stringify([...changed.values()]) };
}

/**
 * Folds events into `audit_run_status`, the table `audit_runs` takes its status from. Runs in
 * the transaction that appends the events (under the append lock), so the status always
 * matches the chain; it is a projection of audit_events (derived, not chained) and can be
 * rebuilt from it. Reads only the statuses `known` does not hold; answers every run's status
 * after the events, for `known` to learn once the transaction committed.
 */
export async function projectRunStatuses(db: Queryable, events: readonly RunEvent[], known?: KnownRunStatuses): Promise<Map<string, RunStatus | undefined>> {
  if (events.length === 0) return new Map();
  let plan = planRunStatuses(events, known);
  if (plan.unknown.length > 0) {
    const read = runStatusRead(plan.unknown);
    const rows = (await db.query(read.sql, read.params)) as { run_id: string; status: string }[];
    plan = planRunStatuses(events, known, readRunStatuses(plan.unknown, rows));
  }
  if (plan.changes) await db.query(runStatusUpsertSql('$1'), [plan.changes]);
  return plan.statuses;
}

/** A projected row of audit_events as the status fold reads it. */
export function runEventOfRow(row: { seq: string | number; run_id: string; type: string; decision_effect: string | null; outcome_status: string | null; error_code: string | null }): RunEvent {
  return {
    seq: Number(row.seq),
    runId: row.run_id,
    event: {
      type: row.type,
      ...(row.decision_effect ? { decision: { effect: row.decision_effect } } : {}),
      ...(row.outcome_status ? { outcome: { status: row.outcome_status, ...(row.error_code ? { errorCode: row.error_code } : {}) } } : {}),
    },
  };
}
