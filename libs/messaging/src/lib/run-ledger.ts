import { RungateError, type AuditEventInput } from '@rungate/contracts';
import type { JetStreamClient, KV } from 'nats';

export const RUN_LEDGER_BUCKET = 'rungate_runs';
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The replay guard: a run id is claimed atomically (KV create fails when the key exists)
 * before anything touches a target, so a ticket replayed or a run retried with the same
 * idempotency key never executes twice, whichever executor replica receives it.
 */
export interface RunLedger {
  claim(runId: string, holder: string): Promise<void>;
  /**
   * A ledger that shares one database with the audit log (the embedded mode) claims the run
   * id and stores its `started` event in one commit: the event only if the claim is new.
   * Resolves once both are durable; rejects as `claim` does (nothing stored) otherwise.
   */
  claimAndRecordStart?(runId: string, holder: string, started: AuditEventInput): Promise<void>;
  /**
   * A ledger that alone decides which run ids are taken (the embedded database, one process
   * holding it) claims at once, in memory, and commits the claim and `started` together after:
   * the run goes ahead while they commit, and `recorded` settles once they did (ADR 20). Throws
   * TICKET_REPLAYED at once for a run id it holds. Answers undefined when the run must wait for
   * its commit instead (claimAndRecordStart): a ticket issued before the ledger opened, or
   * after a commit failed and before one succeeded again.
   */
  claimAhead?(runId: string, holder: string, started: AuditEventInput, ticket: TicketTimes): { recorded: Promise<void> } | undefined;
}

/** A ticket's issue and expiry times, in seconds since the epoch (its iat and exp). */
export interface TicketTimes {
  iat: number;
  exp: number;
}

const RUN_ID = /^[A-Za-z0-9_=-]{1,200}$/;

/** Refuses a run id no ledger should store (every ledger checks it the same way). */
export function assertRunId(runId: string): void {
  if (!RUN_ID.test(runId)) throw new RungateError('TICKET_INVALID', 'malformed run id');
}

/** What every ledger answers for a run id it already holds. */
export function runReplayed(runId: string): RungateError {
  return new RungateError('TICKET_REPLAYED', `run ${runId} was already executed; it will not run again`);
}

/** What every ledger answers when it cannot record a claim: fail closed. */
export function ledgerUnavailable(runId: string): RungateError {
  return new RungateError('SERVICE_UNAVAILABLE', `cannot record run ${runId} in the run ledger; nothing was executed`);
}

export class KvRunLedger implements RunLedger {
  private constructor(private readonly kv: KV) {}

  static async open(js: JetStreamClient, ttlMs = DAY_MS): Promise<KvRunLedger> {
    const kv = await js.views.kv(RUN_LEDGER_BUCKET, { ttl: ttlMs, history: 1 });
    return new KvRunLedger(kv);
  }

  async claim(runId: string, holder: string): Promise<void> {
    assertRunId(runId);
    try {
      await this.kv.create(runId, new TextEncoder().encode(JSON.stringify({ holder, at: new Date().toISOString() })));
    } catch (error) {
      const message = (error as Error).message ?? '';
      if (/wrong last sequence|key exists/i.test(message)) throw runReplayed(runId);
      throw ledgerUnavailable(runId);
    }
  }
}
