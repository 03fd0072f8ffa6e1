import { assertRunId, ledgerUnavailable, runReplayed, type RunLedger } from '@rungate/messaging';
import type { DataSource } from 'typeorm';

const UNIQUE_VIOLATION = '23505';

/**
 * The replay guard in Rungate's own database, for the all-in-one mode: the same contract as
 * the JetStream KV ledger — a run id is claimed once, atomically, before anything runs.
 */
export class DatabaseRunLedger implements RunLedger {
  constructor(private readonly db: DataSource) {}

  async claim(runId: string, holder: string): Promise<void> {
    assertRunId(runId);
    try {
      await this.db.query('INSERT INTO run_claims (run_id, holder) VALUES ($1, $2)', [runId, holder]);
    } catch (error) {
      const code = (error as { code?: string; driverError?: { code?: string } }).driverError?.code ?? (error as { code?: string }).code;
      if (code === UNIQUE_VIOLATION) throw runReplayed(runId);
      throw ledgerUnavailable(runId);
    }
  }
}
