import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { ConnectionConfig } from '@rungate/config';
import {
  ExecRequest,
  RunEventTypes,
  RungateError,
  type AuditEventInput,
  type ExecResult,
  type RunOutput,
  type RunTicketClaims,
} from '@rungate/contracts';
import { setRunId, type AuditSink, type RunLedger } from '@rungate/messaging';
import { assertBodyMatches, verifyTicket, type VerifyKey } from '@rungate/tickets';
import type { ExecutorAdapter, OutputMasker, RunRequest } from './adapter';

export interface PipelineDependencies {
  adapter: ExecutorAdapter;
  masker: OutputMasker;
  audit: AuditSink;
  ledger: RunLedger;
  verifyKeys: () => readonly VerifyKey[];
  connections: () => readonly ConnectionConfig[];
  /** Names this replica in the run ledger and the audit `source`. */
  source: string;
  replica: string;
}

interface InFlight {
  runId: string;
  abort: AbortController;
  done: Promise<unknown>;
}

function outputStats(output: RunOutput): { rows?: number; bytes: number; sha256: string; exitCode?: number | null } {
  const json = JSON.stringify(output);
  const sha256 = createHash('sha256').update(json).digest('hex');
  const bytes = Buffer.byteLength(json);
  return output.kind === 'sql' ? { rows: output.rowCount, bytes, sha256 } : { bytes, sha256, exitCode: output.exitCode };
}

/**
 * The path every executor type shares: nothing touches a target before the ticket verified,
 * the body matched its hash, the run id was claimed once, and `audit.run.started` was acked.
 * Every refusal and every outcome is audited.
 */
export class ExecutionPipeline {
  private readonly log = new Logger(ExecutionPipeline.name);
  private readonly inFlight = new Map<string, InFlight>();
  private accepting = true;

  constructor(private readonly deps: PipelineDependencies) {}

  get activeRuns(): number {
    return this.inFlight.size;
  }

  async execute(payload: unknown): Promise<ExecResult> {
    if (!this.accepting) throw new RungateError('SERVICE_UNAVAILABLE', 'this executor is shutting down; retry on another replica');
    const request = ExecRequest.safeParse(payload);
    if (!request.success) {
      await this.refuse(undefined, new RungateError('TICKET_INVALID', 'a run request needs a ticket and a body'));
      throw new RungateError('TICKET_INVALID', 'a run request needs a ticket and a body');
    }
    let claims: RunTicketClaims;
    try {
      claims = verifyTicket(request.data.ticket, this.deps.verifyKeys());
    } catch (error) {
      await this.refuse(undefined, error);
      throw error;
    }
    setRunId(claims.runId);
    const run = await this.admit(claims, request.data.body);
    return this.track(claims, run);
  }

  /** Every check that can refuse a run, in order; the run is claimed last. */
  private async admit(claims: RunTicketClaims, body: string): Promise<RunRequest> {
    try {
      if (claims.connection.type !== this.deps.adapter.type) {
        throw new RungateError('TICKET_INVALID', `this ticket is for a ${claims.connection.type} executor, not ${this.deps.adapter.type}`);
      }
      const connection = this.deps.connections().find((c) => c.name === claims.connection.name && c.type === claims.connection.type);
      if (!connection) throw new RungateError('CONNECTION_UNKNOWN', `connection ${claims.connection.name} is not configured on this executor`);
      assertBodyMatches(claims, body);
      const run: RunRequest = { claims, body, connection };
      this.deps.adapter.prepare(run);
      await this.deps.ledger.claim(claims.runId, this.deps.replica);
      return run;
    } catch (error) {
      await this.refuse(claims, error);
      throw error;
    }
  }

  private async track(claims: RunTicketClaims, run: RunRequest): Promise<ExecResult> {
    const abort = new AbortController();
    const done = this.perform(claims, run, abort);
    this.inFlight.set(claims.runId, { runId: claims.runId, abort, done: done.catch(() => undefined) });
    try {
      return await done;
    } finally {
      this.inFlight.delete(claims.runId);
    }
  }

  private base(claims: RunTicketClaims, type: string): AuditEventInput {
    return {
      type,
      source: this.deps.source,
      runId: claims.runId,
      actor: claims.identity,
      runbook: claims.runbook,
      connection: claims.connection,
      params: claims.params,
      ...(claims.rule ? { decision: { effect: 'allow' as const, rule: claims.rule } } : {}),
    };
  }

  private async perform(claims: RunTicketClaims, run: RunRequest, abort: AbortController): Promise<ExecResult> {
    // Write-ahead: no ack for "started", no run.
    await this.deps.audit.publish({ ...this.base(claims, RunEventTypes.started), details: { dryRun: claims.dryRun, replica: this.deps.replica } });
    const started = performance.now();
    const timer = setTimeout(() => abort.abort(new RungateError('TIMEOUT', `run exceeded its ${claims.limits.timeoutMs} ms timeout`)), claims.limits.timeoutMs);
    try {
      const raw = await this.deps.adapter.run(run, abort.signal);
      const output = this.deps.masker.mask(raw, claims);
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      const status = output.kind === 'process' && output.exitCode !== 0 ? 'failed' : 'succeeded';
      const stats = outputStats(output);
      await this.finalAudit({
        ...this.base(claims, status === 'succeeded' ? RunEventTypes.completed : RunEventTypes.failed),
        outcome: {
          status,
          durationMs,
          ...(stats.rows !== undefined ? { rows: stats.rows } : {}),
          ...(stats.exitCode !== undefined ? { exitCode: stats.exitCode } : {}),
          bytes: stats.bytes,
          truncated: output.truncated,
          outputSha256: stats.sha256,
          dryRun: claims.dryRun,
        },
      });
      return { runId: claims.runId, status, durationMs, dryRun: claims.dryRun, output };
    } catch (caught) {
      const error =
        caught instanceof RungateError ? caught : new RungateError('EXECUTION_FAILED', 'the run failed in the executor; see its log');
      if (!(caught instanceof RungateError)) this.log.error(`run ${claims.runId} failed: ${(caught as Error).message}`);
      await this.finalAudit({
        ...this.base(claims, RunEventTypes.failed),
        outcome: {
          status: 'failed',
          durationMs: Math.round((performance.now() - started) * 1000) / 1000,
          errorCode: error.code,
          error: error.message,
          dryRun: claims.dryRun,
        },
      });
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The run happened; its outcome must reach the audit stream, so retry before giving up loudly. */
  private async finalAudit(event: AuditEventInput): Promise<void> {
    const id = crypto.randomUUID();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.deps.audit.publish({ ...event, id });
        return;
      } catch (error) {
        if (attempt >= 5) {
          this.log.error(`could not audit ${event.type} for run ${event.runId}: ${(error as Error).message}`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }

  private async refuse(claims: RunTicketClaims | undefined, error: unknown): Promise<void> {
    const code = error instanceof RungateError ? error.code : 'INTERNAL';
    const message = error instanceof RungateError ? error.message : 'refused';
    const event: AuditEventInput = claims
      ? { ...this.base(claims, RunEventTypes.failed), outcome: { status: 'refused', errorCode: code, error: message } }
      : { type: RunEventTypes.failed, source: this.deps.source, outcome: { status: 'refused', errorCode: code, error: message } };
    try {
      await this.deps.audit.publish(event);
    } catch (auditError) {
      this.log.error(`could not audit a refused run (${code}): ${(auditError as Error).message}`);
    }
  }

  /** Graceful shutdown: take no new work, let runs finish until the deadline, then cancel them. */
  async drain(deadlineMs: number): Promise<void> {
    this.accepting = false;
    const pending = [...this.inFlight.values()];
    if (pending.length === 0) return;
    const deadline = new Promise((resolve) => setTimeout(resolve, deadlineMs));
    await Promise.race([Promise.all(pending.map((p) => p.done)), deadline]);
    for (const run of this.inFlight.values()) {
      this.log.warn(`cancelling run ${run.runId} at shutdown`);
      run.abort.abort(new RungateError('EXECUTION_FAILED', 'the executor shut down during the run; it was cancelled'));
    }
    await Promise.all([...this.inFlight.values()].map((p) => p.done));
  }
}
