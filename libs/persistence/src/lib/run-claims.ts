import { assertRunId, ledgerUnavailable, runReplayed, type RunLedger } from '@rungate/messaging';
import type { DataSource } from 'typeorm';
import type { Queryable } from './audit-store';

/** One claim as `claimRuns` takes it. */
export interface RunClaim {
  runId: string;
  holder: string;
}

/**
 * Inserts the claims in one statement; answers the run ids that were new. A run id already
 * taken is skipped rather than failing the statement, so claims can share a transaction with
 * other writes (the embedded audit log's group commit). Run ids must be distinct.
 */
export async function claimRuns(db: Queryable, claims: readonly RunClaim[]): Promise<Set<string>> {
  if (claims.length === 0) return new Set();
  const rows = (await db.query(
    'INSERT INTO run_claims (run_id, holder) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (run_id) DO NOTHING RETURNING run_id',
    [claims.map((c) => c.runId), claims.map((c) => c.holder)],
  )) as { run_id: string }[];
  return new Set(rows.map((r) => r.run_id));
}

/**
 * The replay guard in Rungate's own database, for the all-in-one mode: the same contract as
 * the JetStream KV ledger — a run id is claimed once, atomically, before anything runs.
 * (`rungate serve` claims through LocalAuditLog.runLedger(), in its group commit.)
 */
export class DatabaseRunLedger implements RunLedger {
  constructor(private readonly db: DataSource) {}

  async claim(runId: string, holder: string): Promise<void> {
    assertRunId(runId);
    let claimed: Set<string>;
    try {
      claimed = await claimRuns(this.db, [{ runId, holder }]);
    } catch {
      throw ledgerUnavailable(runId);
    }
    if (!claimed.has(runId)) throw runReplayed(runId);
  }
}
