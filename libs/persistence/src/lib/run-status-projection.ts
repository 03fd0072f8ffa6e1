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

/**
 * Folds events into `audit_run_status`, the table `audit_runs` takes its status from. Runs in
 * the transaction that appends the events (under the append lock), so the status always
 * matches the chain; it is a projection of audit_events (derived, not chained) and can be
 * rebuilt from it.
 */
export async function projectRunStatuses(db: Queryable, events: readonly RunEvent[]): Promise<void> {
  if (events.length === 0) return;
  const runIds = [...new Set(events.map((e) => e.runId))];
  const stored = (await db.query('SELECT run_id, status FROM audit_run_status WHERE run_id = ANY($1::text[])', [runIds])) as { run_id: string; status: string }[];
  const current = new Map<string, RunStatus | undefined>(stored.map((r) => [r.run_id, isRunStatus(r.status) ? r.status : undefined]));
  const changed = new Map<string, { run_id: string; status: RunStatus; status_seq: number }>();
  for (const { seq, runId, event } of events) {
    const before = current.get(runId);
    const after = nextRunStatus(before, event);
    if (after === undefined || after === before) continue;
    current.set(runId, after);
    changed.set(runId, { run_id: runId, status: after, status_seq: seq });
  }
  if (changed.size === 0) return;
  await db.query(
    `INSERT INTO audit_run_status (run_id, status, status_seq)
       SELECT run_id, status, status_seq FROM jsonb_populate_recordset(NULL::audit_run_status, $1::jsonb)
     ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, status_seq = EXCLUDED.status_seq`,
    [JSON.stringify([...changed.values()])],
  );
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
