import { createHash, randomUUID } from 'node:crypto';
import type { ConnectionConfig } from '@rungate/config';
import {
  ExecRequest,
  RunEventTypes,
  RungateError,
  type AuditEventInput,
  type AuditOutcome,
  type ConnectionType,
  type ErrorCode,
  type ExecCancel,
  type ExecResult,
  type GuardrailRecord,
  type RunOutput,
  type RunTicketClaims,
} from '@rungate/contracts';
import { OutputGuardrails, describeFindings, guardrailRecord, guardrailVerdict, type GuardrailFinding } from '@rungate/guardrails';
import { AUDIT_DUPLICATE_WINDOW_MS, setRunId, type AuditSink, type RunLedger } from '@rungate/messaging';
import { assertBodyMatches, verifyTicket, type IssuedTickets, type VerifyKey } from '@rungate/tickets';
import type { ConnectionOf, ExecutorAdapter } from './adapter';
import { MaskingProfiles, type MaskingReport, type OutputMasking, type RunMasking } from './masking';
import { settlesWithin } from './settles-within';

/** Where the pipeline reports what only an operator needs (a Nest Logger fits). */
export interface PipelineLog {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export type RunFinishStatus = 'succeeded' | 'failed' | 'refused' | 'unknown' | 'cancelled' | 'timed_out';

/** Metrics hook: called once per request, whatever happened to it. */
export interface RunObserver {
  runFinished(run: { status: RunFinishStatus; durationMs?: number }): void;
}

export interface RunPipelineOptions<T extends ConnectionType, Prepared> {
  /** The audit `source`, e.g. `executor-postgres`. */
  source: string;
  /** This replica's name, recorded in the run ledger and the audit events. */
  replica: string;
  adapter: ExecutorAdapter<T, Prepared>;
  /** The current ticket verify keys (several during a key rotation). */
  verifyKeys: () => readonly VerifyKey[];
  /** The tickets policy signed in this process (the all-in-one mode): each is spared its signature check once (ADR 25). */
  issuedTickets?: IssuedTickets;
  /** The current connections of rungate.yaml (hot-reloaded). */
  connections: () => readonly ConnectionConfig[];
  ledger: RunLedger;
  audit: AuditSink;
  /** The masking profiles of this executor; without them a ticket that names a profile is refused. */
  masking?: OutputMasking;
  observer?: RunObserver;
  log?: PipelineLog;
  /** How long a cancelled run may take to stop before its outcome is reported unknown. */
  cancelGraceMs?: number;
  /** Clock for ticket expiry, in ms. */
  now?: () => number;
}

/** Below the gateway's 5 s wait beyond a run's time limit, so an unknown outcome is still reported. */
export const DEFAULT_CANCEL_GRACE_MS = 3000;
/**
 * A run's outcome is retried with the same event id for as long as a NATS restart or a
 * failover may take: JetStream stores a retried publish once while it is inside the stream's
 * duplicate window, so the last attempt starts well inside it (half of it, plus one publish
 * timeout). Three quick attempts lost outcomes to a NATS restart under load (the soak).
 */
const TERMINAL_AUDIT_RETRY_MS = AUDIT_DUPLICATE_WINDOW_MS / 2;
const TERMINAL_AUDIT_BACKOFF_MAX_MS = 2000;
/** Enough statements for an auditor to see what a run changed, without unbounded events. */
const AUDITED_STATEMENTS = 50;
/**
 * How long a stop request for a run this replica is not running is kept: the request may
 * arrive before the run does (a cancel right after the call was sent). Longer than any
 * ticket lives (60 s at most), so a stopped run can never start later.
 */
export const STOP_MEMORY_MS = 120_000;
const MAX_REMEMBERED_STOPS = 10_000;

/** Why a run's session was aborted: its own time limit, shutdown, or a stop request (ExecCancel). */
type Interruption = 'timeout' | 'shutdown' | ExecCancel['reason'];

interface Admitted<Prepared> {
  payload: unknown;
  claims: RunTicketClaims;
  prepared: Prepared;
  /** The ticket's output guardrails, compiled before anything ran. */
  guardrails: OutputGuardrails;
  masking: RunMasking;
  /** The output cap: the ticket's, never above the connection's own. */
  maxBytes: number;
}

/** An output guardrail denied: the run finished, its output does not leave the executor. */
class OutputWithheld extends RungateError {
  constructor(
    message: string,
    readonly findings: readonly GuardrailFinding[],
    readonly output: RunOutput,
  ) {
    super('GUARDRAIL_BLOCKED', message, { guardrails: findings.filter((f) => f.action === 'deny').map((f) => f.guardrail) });
  }
}

/** One run's session on the target: opened while the run is claimed and `started` acked. */
interface Session {
  /** Stops opening, and the run, on timeout, shutdown or refusal. */
  readonly abort: AbortController;
  /** Settles when `open` did (never rejects: its failure is the run's, reported by `run`). */
  readonly opened: Promise<unknown>;
  readonly openFailure: { error?: unknown };
  /** Whether the adapter's `run` was called; if not, the session is abandoned. */
  ran: boolean;
}

interface InFlightRun {
  /** Aborts with 'shutdown' or a stop request's reason. */
  interrupt: AbortController;
  settled: Promise<void>;
  /** Set once its ticket verified: what stop requests name. */
  runId?: string;
  /** The stop request that interrupted it, for the limit its error names. */
  stop?: ExecCancel;
}

class CancelledRunDidNotStop extends Error {}

/** Whether a run's claim and `started` are on the record: at once, or once a claim taken ahead committed. */
interface StartRecord {
  recorded: Promise<boolean>;
}

const RECORDED: StartRecord = { recorded: Promise.resolve(true) };

const quietLog: PipelineLog = { log: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The audit status of a run that ended in an error: a timeout (its own, or its call's) and a
 * cancellation are told apart from failures, so an auditor can find them by status.
 */
export function errorStatus(code: ErrorCode): Extract<AuditOutcome['status'], 'failed' | 'unknown' | 'cancelled' | 'timed_out'> {
  if (code === 'OUTCOME_UNKNOWN') return 'unknown';
  if (code === 'TIMEOUT') return 'timed_out';
  if (code === 'CANCELLED') return 'cancelled';
  return 'failed';
}

/** A sql run that returns rows or changes them succeeded; a process run succeeded when it exited 0. */
export function runStatus(output: RunOutput): 'succeeded' | 'failed' {
  return output.kind === 'process' && output.exitCode !== 0 ? 'failed' : 'succeeded';
}

/**
 * The digest recorded in `audit.run.completed`: the SHA-256 of the output's JSON exactly as
 * the reply carries it (key order of the contracts' schema), and its size in bytes.
 */
export function outputDigest(output: RunOutput): { sha256: string; bytes: number } {
  const json = JSON.stringify(output);
  return { sha256: createHash('sha256').update(json).digest('hex'), bytes: Buffer.byteLength(json) };
}

function parseExecRequest(payload: unknown): ExecRequest {
  const parsed = ExecRequest.safeParse(payload);
  if (parsed.success) return parsed.data;
  if (parsed.error.issues.some((issue) => issue.path[0] === 'ticket')) {
    throw new RungateError('TICKET_INVALID', 'the request carries no valid run ticket; executors run only what policy signed');
  }
  const issue = parsed.error.issues[0];
  throw new RungateError('BAD_REQUEST', `malformed run request: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
}

/** What identifies an unverified request in the audit trail without trusting any of it. */
function requestFingerprints(payload: unknown): Record<string, string> {
  if (typeof payload !== 'object' || payload === null) return {};
  const { ticket, body } = payload as { ticket?: unknown; body?: unknown };
  const hash = (text: string) => createHash('sha256').update(text).digest('hex');
  return {
    ...(typeof ticket === 'string' ? { ticketSha256: hash(ticket) } : {}),
    ...(typeof body === 'string' ? { bodySha256: hash(body) } : {}),
  };
}

/** What an auditor may know of withheld output: its size, never its content or a digest of it (a short secret's digest can be guessed). */
function outputSize(output: RunOutput): { rows?: number; bytes: number; truncated: boolean } {
  return { ...(output.kind === 'sql' ? { rows: output.rowCount } : {}), bytes: Buffer.byteLength(JSON.stringify(output)), truncated: output.truncated };
}

function guardrailRecords(findings: readonly GuardrailFinding[]): { guardrails?: GuardrailRecord[] } {
  return findings.length > 0 ? { guardrails: findings.map(guardrailRecord) } : {};
}

function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * The path every executor type shares (docs/design.md §2, steps 3–4). Nothing reaches the
 * adapter's `run` before the ticket verified, the connection matched, the body matched its
 * hash, the run id was claimed once and `audit.run.started` was acknowledged. Every refusal
 * and every outcome is audited; replies carry typed errors only.
 */
export class RunPipeline<T extends ConnectionType, Prepared> {
  private readonly inFlight = new Set<InFlightRun>();
  /**
   * The in-flight runs whose ticket verified, by run id: what a stop request can reach. More
   * than one only while a replay of the ticket waits to be refused; a stop reaches them all.
   */
  private readonly byRunId = new Map<string, Set<InFlightRun>>();
  /** Stop requests, kept until STOP_MEMORY_MS after they came, for runs that arrive after them. */
  private readonly stops = new Map<string, { request: ExecCancel; until: number }>();
  /** What outlives a reply: outcome events on their way to the audit stream, unused sessions closing. */
  private readonly trailing = new Set<Promise<void>>();
  private readonly masking: OutputMasking;
  private readonly log: PipelineLog;
  private readonly cancelGraceMs: number;
  private draining = false;

  constructor(private readonly options: RunPipelineOptions<T, Prepared>) {
    this.masking = options.masking ?? new MaskingProfiles();
    this.log = options.log ?? quietLog;
    this.cancelGraceMs = options.cancelGraceMs ?? DEFAULT_CANCEL_GRACE_MS;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  get activeRuns(): number {
    return this.inFlight.size;
  }

  /** Handles one `rungate.exec.<type>.v1` request: resolves with the result or rejects with a RungateError. */
  async execute(payload: unknown): Promise<ExecResult> {
    const run: InFlightRun = { interrupt: new AbortController(), settled: Promise.resolve() };
    const work = this.admitAndRun(payload, run);
    run.settled = work.then(() => undefined, () => undefined);
    this.inFlight.add(run);
    try {
      return await work;
    } finally {
      this.inFlight.delete(run);
      if (run.runId !== undefined) this.untrack(run.runId, run);
    }
  }

  /**
   * Handles one `rungate.exec.<type>.cancel.v1`: the run stops (its adapter is told, as on a
   * timeout) and ends `cancelled` or `timed_out`; a run not here yet is refused when it comes.
   * Every replica of the type hears it; the ones not running the run only remember it.
   */
  stop(request: ExecCancel): void {
    this.rememberStop(request);
    for (const run of this.byRunId.get(request.runId) ?? []) {
      if (run.interrupt.signal.aborted) continue;
      run.stop = request;
      this.log.log(`run ${request.runId}: stopping it (${request.reason === 'cancelled' ? 'its caller cancelled the call' : 'its call ran out of time'})`);
      run.interrupt.abort(request.reason);
    }
  }

  private untrack(runId: string, run: InFlightRun): void {
    const same = this.byRunId.get(runId);
    same?.delete(run);
    if (same?.size === 0) this.byRunId.delete(runId);
  }

  private rememberStop(request: ExecCancel): void {
    const now = this.options.now?.() ?? Date.now();
    for (const [runId, kept] of this.stops) {
      // Insertion order is expiry order: stop at the first one still current.
      if (kept.until > now && this.stops.size < MAX_REMEMBERED_STOPS) break;
      this.stops.delete(runId);
    }
    this.stops.delete(request.runId);
    this.stops.set(request.runId, { request, until: now + STOP_MEMORY_MS });
  }

  /** Makes a verified run reachable by stop requests, and applies one that came before it. */
  private track(runId: string, run: InFlightRun): void {
    run.runId = runId;
    const same = this.byRunId.get(runId) ?? new Set<InFlightRun>();
    same.add(run);
    this.byRunId.set(runId, same);
    const kept = this.stops.get(runId);
    if (kept && kept.until > (this.options.now?.() ?? Date.now()) && !run.interrupt.signal.aborted) {
      run.stop = kept.request;
      run.interrupt.abort(kept.request.reason);
    }
  }

  /**
   * Graceful shutdown: take no new work, let in-flight runs finish until the deadline, then
   * cancel the rest (each reported failed and audited) and release the adapter.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.draining = true;
    if (this.inFlight.size > 0) {
      this.log.log(`shutting down: waiting up to ${graceMs} ms for ${this.inFlight.size} run(s)`);
      await settlesWithin(this.allSettled(), graceMs);
      if (this.inFlight.size > 0) {
        this.log.warn(`shutting down: cancelling ${this.inFlight.size} run(s) still in flight`);
        for (const run of this.inFlight) run.interrupt.abort('shutdown');
        await this.allSettled();
      }
    }
    await this.recorded();
    await this.options.adapter.close();
  }

  /**
   * Resolves once every outcome event published so far was acknowledged (or given up on and
   * logged) and every unused session was closed.
   */
  async recorded(): Promise<void> {
    while (this.trailing.size > 0) await Promise.all([...this.trailing]);
  }

  private trail(work: Promise<void>): void {
    this.trailing.add(work);
    void work.finally(() => this.trailing.delete(work));
  }

  private async allSettled(): Promise<void> {
    await Promise.all([...this.inFlight].map((run) => run.settled));
  }

  private async admitAndRun(payload: unknown, run: InFlightRun): Promise<ExecResult> {
    const admitted = await this.admit(payload, run);
    return this.runAdmitted(admitted, run);
  }

  /** Every check that can refuse a request before anything is recorded, in order. */
  private async admit(payload: unknown, run: InFlightRun): Promise<Admitted<Prepared>> {
    let claims: RunTicketClaims | undefined;
    try {
      const request = parseExecRequest(payload);
      claims = verifyTicket(request.ticket, this.options.verifyKeys(), this.options.now?.(), this.options.issuedTickets);
      setRunId(claims.runId);
      this.track(claims.runId, run);
      const connection = this.connectionFor(claims);
      assertBodyMatches(claims, request.body);
      this.refuseUnknownExploration(claims);
      const guardrails = OutputGuardrails.compile(claims.guardrails);
      // Before anything is claimed or opened: a run this executor cannot mask never starts.
      const masking = this.masking.forRun(claims);
      const prepared = await this.options.adapter.prepare(claims, request.body, connection, { sourceColumns: masking.needsSourceColumns });
      this.refuseIfStopped(claims, run);
      if (this.draining) {
        throw new RungateError('SERVICE_UNAVAILABLE', `${this.options.source} is shutting down; run ${claims.runId} was not started`);
      }
      return { payload, claims, prepared, guardrails, masking, maxBytes: Math.min(claims.limits.maxBytes, connection.maxBytes) };
    } catch (caught) {
      const error = this.expected(caught, 'refusing a run request');
      // A run stopped before it started is recorded as what stopped it, not as a refusal.
      const status = !run.stop ? 'refused' : error.code === 'CANCELLED' ? 'cancelled' : error.code === 'TIMEOUT' ? 'timed_out' : 'refused';
      await this.auditRefusal(error, payload, claims, status);
      this.options.observer?.runFinished({ status });
      throw error;
    }
  }

  /** An exploration runs only on an adapter that says it runs that kind read-only (ADR 19). */
  private refuseUnknownExploration(claims: RunTicketClaims): void {
    const explore = claims.explore;
    if (!explore || this.options.adapter.explores?.includes(explore.tool)) return;
    throw new RungateError('EXPLORATION_REFUSED', `${this.options.source} does not run ${explore.tool}; nothing was executed`);
  }

  /** A run stopped before it started is refused: nothing of it reaches the target, and it is not claimed. */
  private refuseIfStopped(claims: RunTicketClaims, run: InFlightRun): void {
    if (!run.stop) return;
    throw this.stoppedError(claims, run.stop, 'before it started; nothing was executed');
  }

  private stoppedError(claims: RunTicketClaims, stop: ExecCancel, detail: string): RungateError {
    if (stop.reason === 'cancelled') return new RungateError('CANCELLED', `run ${claims.runId} was cancelled by its caller ${detail}`);
    const limit = stop.callTimeoutMs === undefined ? '' : ` of ${stop.callTimeoutMs} ms`;
    return new RungateError('TIMEOUT', `run ${claims.runId} was stopped because its call exceeded the gateway's time limit${limit} (gateway.callTimeout) ${detail}`);
  }

  private connectionFor(claims: RunTicketClaims): ConnectionOf<T> {
    const { type } = this.options.adapter;
    const { name } = claims.connection;
    if (claims.connection.type !== type) {
      throw new RungateError('CONNECTION_UNKNOWN', `run ${claims.runId} is for the ${claims.connection.type} connection ${name}; this is the ${type} executor`);
    }
    const connection = this.options.connections().find((c) => c.name === name);
    if (!connection) throw new RungateError('CONNECTION_UNKNOWN', `connection ${name} is not configured on this executor`);
    if (connection.type !== type) {
      throw new RungateError('CONNECTION_UNKNOWN', `connection ${name} is a ${connection.type} connection on this executor, not ${type}`);
    }
    return connection as ConnectionOf<T>;
  }

  /**
   * The session on the target opens while the run id is claimed and `started` is acked
   * (ADR 9); the body goes to the target only after both. A run that does not go ahead
   * abandons its session, having sent nothing of the runbook.
   */
  private async runAdmitted(admitted: Admitted<Prepared>, run: InFlightRun): Promise<ExecResult> {
    const session = this.openSession(admitted.prepared);
    try {
      return await this.startAndRun(admitted, session, run);
    } finally {
      // The reply does not wait for an unused session to close.
      if (!session.ran) this.trail(this.abandon(admitted, session));
    }
  }

  private openSession(prepared: Prepared): Session {
    const abort = new AbortController();
    const openFailure: { error?: unknown } = {};
    const { adapter } = this.options;
    const opened = adapter.open ? adapter.open(prepared, abort.signal).catch((error: unknown) => (openFailure.error = error)) : Promise.resolve();
    return { abort, opened, openFailure, ran: false };
  }

  private async abandon({ claims, prepared }: Admitted<Prepared>, session: Session): Promise<void> {
    if (!this.options.adapter.abandon) return;
    if (!session.abort.signal.aborted) session.abort.abort('abandoned');
    if (!(await settlesWithin(session.opened, this.cancelGraceMs))) {
      this.log.warn(`run ${claims.runId}: its session on ${claims.connection.name} did not finish opening within ${this.cancelGraceMs} ms of being given up; it was never used`);
      return;
    }
    await this.options.adapter.abandon(prepared).catch((error: unknown) => this.log.warn(`run ${claims.runId}: closing its unused session failed: ${this.describe(error)}`));
  }

  /**
   * The run id is claimed once, then `started` is acknowledged: write-ahead, without both
   * nothing runs. Where the ledger claims ahead (ADR 20) the claim is taken at once and the run
   * goes ahead while it and `started` commit: what is answered then says whether they did.
   */
  private async recordStart({ payload, claims }: Admitted<Prepared>): Promise<StartRecord> {
    const { ledger, replica } = this.options;
    const started: AuditEventInput = {
      ...this.runEvent(claims, RunEventTypes.started),
      details: {
        executor: replica,
        ...this.explorationDetails(claims),
        readOnly: claims.readOnly,
        dryRun: claims.dryRun,
        limits: claims.limits,
        bodySha256: claims.bodySha256,
        ...(claims.masking ? { masking: claims.masking.profile } : {}),
      },
    };
    try {
      const ahead = ledger.claimAhead?.(claims.runId, replica, started, claims);
      if (ahead) return this.startRecord(claims, ahead.recorded);
      // One commit for both where the ledger can (ADR 20); never the event of a refused claim.
      if (ledger.claimAndRecordStart) {
        await ledger.claimAndRecordStart(claims.runId, replica, started);
        return RECORDED;
      }
      await ledger.claim(claims.runId, replica);
    } catch (caught) {
      const error = this.expected(caught, 'refusing a run request');
      await this.auditRefusal(error, payload, claims);
      this.options.observer?.runFinished({ status: 'refused' });
      throw error;
    }
    try {
      await this.options.audit.publish(started);
    } catch (caught) {
      const error = this.expected(caught, `run ${claims.runId}: publishing audit.run.started`);
      // The ack may be what was lost (a NATS restart): `started` can be on the stream while
      // nothing runs. The run's end goes after it, retried like any outcome, so no run is
      // left started without an end; nothing was executed.
      this.auditTerminal({
        ...this.runEvent(claims, RunEventTypes.failed),
        outcome: { status: errorStatus(error.code), exitCode: null, durationMs: 0, errorCode: error.code, error: error.message },
        details: { executor: replica, ...this.explorationDetails(claims), executed: false },
      });
      this.options.observer?.runFinished({ status: 'refused' });
      throw error;
    }
    return RECORDED;
  }

  /** A claim taken ahead: whether it and `started` committed, an operator told if not. */
  private startRecord(claims: RunTicketClaims, recorded: Promise<void>): StartRecord {
    return {
      recorded: recorded.then(
        () => true,
        (error: unknown) => {
          this.log.error(`run ${claims.runId}: its claim and audit.run.started were not committed, and it was already running: ${this.describe(error)}`);
          return false;
        },
      ),
    };
  }

  private async startAndRun(admitted: Admitted<Prepared>, session: Session, run: InFlightRun): Promise<ExecResult> {
    const { claims, prepared, masking } = admitted;
    const start = await this.recordStart(admitted);
    const startedAt = performance.now();
    let output: RunOutput;
    let warnings: GuardrailFinding[];
    try {
      if (run.stop) throw this.stoppedError(claims, run.stop, 'before its body was sent; nothing was executed');
      if (run.interrupt.signal.aborted) throw new RungateError('EXECUTION_FAILED', `run ${claims.runId} was cancelled before it started: the executor is shutting down`);
      const raw = await this.runWithin(claims, prepared, session, run);
      warnings = this.applyOutputGuardrails(raw, admitted);
      output = this.outputStage(raw, admitted);
    } catch (caught) {
      const durationMs = roundMs(performance.now() - startedAt);
      const error = this.expected(caught, `run ${claims.runId}`);
      const withheld = caught instanceof OutputWithheld ? caught : undefined;
      const screened = withheld ? { message: error.message, findings: withheld.findings } : this.screenMessage(error.message, admitted);
      const message = this.maskedMessage(screened.message, error.code, admitted);
      const status = errorStatus(error.code);
      this.auditTerminal({
        ...this.runEvent(claims, RunEventTypes.failed),
        outcome: {
          status,
          exitCode: withheld?.output.kind === 'process' ? withheld.output.exitCode : null,
          durationMs,
          errorCode: error.code,
          error: message,
          dryRun: claims.dryRun,
          ...(withheld ? outputSize(withheld.output) : {}),
          ...this.maskingOutcome(masking),
        },
        ...guardrailRecords(screened.findings),
        details: { executor: this.options.replica, ...this.explorationDetails(claims) },
      }, start);
      this.options.observer?.runFinished({ status, durationMs });
      // No reply before its start is on the record (or the log says why not).
      await start.recorded;
      throw new RungateError(error.code, message, error.details);
    }
    const durationMs = roundMs(performance.now() - startedAt);
    const status = runStatus(output);
    const digest = outputDigest(output);
    this.auditTerminal({
      ...this.runEvent(claims, status === 'succeeded' ? RunEventTypes.completed : RunEventTypes.failed),
      outcome: {
        status,
        exitCode: output.kind === 'process' ? output.exitCode : null,
        durationMs,
        rows: output.kind === 'sql' ? output.rows.length : undefined,
        bytes: digest.bytes,
        truncated: output.truncated,
        outputSha256: digest.sha256,
        dryRun: claims.dryRun,
        ...this.maskingOutcome(masking),
      },
      ...guardrailRecords(warnings),
      details: {
        executor: this.options.replica,
        ...this.explorationDetails(claims),
        ...(output.kind === 'sql' ? { rowCount: output.rowCount, statements: output.statements.slice(0, AUDITED_STATEMENTS) } : {}),
      },
    }, start);
    this.options.observer?.runFinished({ status, durationMs });
    await start.recorded;
    return { runId: claims.runId, status, durationMs, dryRun: claims.dryRun, output };
  }

  /**
   * Runs under the ticket's time limit. On timeout or shutdown the adapter's signal aborts
   * and `cancel` stops the work on the target; a run that still does not stop within the
   * grace period is reported with an unknown outcome rather than waited for forever.
   */
  private async runWithin(claims: RunTicketClaims, prepared: Prepared, session: Session, run: InFlightRun): Promise<RunOutput> {
    const { abort } = session;
    let graceTimer: NodeJS.Timeout | undefined;
    let rejectAbandoned: (error: Error) => void = () => undefined;
    const abandoned = new Promise<never>((_, reject) => (rejectAbandoned = reject));
    const interrupt = (reason: Interruption) => {
      if (abort.signal.aborted) return;
      abort.abort(reason);
      this.options.adapter.cancel(prepared).catch((error: unknown) => this.log.warn(`run ${claims.runId}: cancel failed: ${this.describe(error)}`));
      graceTimer = setTimeout(() => rejectAbandoned(new CancelledRunDidNotStop()), this.cancelGraceMs);
    };
    const timeout = setTimeout(() => interrupt('timeout'), claims.limits.timeoutMs);
    const outside = run.interrupt.signal;
    const onInterrupt = () => interrupt(outside.reason as Interruption);
    outside.addEventListener('abort', onInterrupt, { once: true });
    try {
      const running = session.opened.then(() => {
        // A session that failed to open is the run's failure; an interrupted one never runs.
        if (session.openFailure.error !== undefined) throw session.openFailure.error;
        if (abort.signal.aborted) throw new RungateError('EXECUTION_FAILED', 'the run was interrupted before its body was sent; nothing was executed');
        session.ran = true;
        return this.options.adapter.run(prepared, abort.signal);
      });
      // If the run is abandoned, its late rejection has nobody left to hear it.
      running.catch(() => undefined);
      return await Promise.race([running, abandoned]);
    } catch (error) {
      if (!abort.signal.aborted) throw error;
      const reason = abort.signal.reason as Interruption;
      const stopped = `run ${claims.runId} was ${this.why(claims, reason, run.stop)}`;
      if (error instanceof CancelledRunDidNotStop && session.ran) {
        throw new RungateError(
          'OUTCOME_UNKNOWN',
          `${stopped}, but did not stop within ${this.cancelGraceMs} ms; its effect on ${claims.connection.name} is unknown — check the target before running it again`,
        );
      }
      // A session that never finished opening never received the body.
      const detail = error instanceof RungateError ? `; ${error.message}` : session.ran ? '' : '; its session on the target did not open in time, and nothing was executed';
      const code: ErrorCode = reason === 'timeout' || reason === 'call_timeout' ? 'TIMEOUT' : reason === 'cancelled' ? 'CANCELLED' : 'EXECUTION_FAILED';
      throw new RungateError(code, `${stopped}${detail}`);
    } finally {
      clearTimeout(timeout);
      clearTimeout(graceTimer);
      outside.removeEventListener('abort', onInterrupt);
    }
  }

  /** What stopped a run, as its error says it: "cancelled because …" / "stopped because …". */
  private why(claims: RunTicketClaims, reason: Interruption, stop: ExecCancel | undefined): string {
    switch (reason) {
      case 'timeout':
        return `cancelled because it exceeded its time limit of ${claims.limits.timeoutMs} ms`;
      case 'shutdown':
        return 'cancelled because the executor is shutting down';
      case 'cancelled':
        return 'cancelled by its caller';
      case 'call_timeout':
        return `stopped because its call exceeded the gateway's time limit${stop?.callTimeoutMs === undefined ? '' : ` of ${stop.callTimeoutMs} ms`} (gateway.callTimeout)`;
    }
  }

  /**
   * The ticket's output guardrails, on the output exactly as the target produced it and before
   * masking (ADR 15): what must not appear is looked for in what came back. A deny withholds
   * the whole output; warnings go with it into the outcome event.
   */
  private applyOutputGuardrails(output: RunOutput, { claims, guardrails }: Admitted<Prepared>): GuardrailFinding[] {
    if (guardrails.isEmpty) return [];
    const findings = guardrails.check(output);
    const { denied, warnings } = guardrailVerdict(findings);
    if (denied.length === 0) return warnings;
    const ran = claims.dryRun ? 'ran as a dry run (rolled back)' : 'ran';
    throw new OutputWithheld(`run ${claims.runId} ${ran} on ${claims.connection.name}, but its output was withheld: ${describeFindings(denied)}`, findings, output);
  }

  /** An adapter's error message can quote the target's data; the output guardrails' words and patterns screen it. */
  private screenMessage(message: string, { claims, guardrails }: Admitted<Prepared>): { message: string; findings: GuardrailFinding[] } {
    if (guardrails.isEmpty) return { message, findings: [] };
    const findings = guardrails.checkMessage(message);
    const { denied } = guardrailVerdict(findings);
    if (denied.length === 0) return { message, findings };
    return { message: `run ${claims.runId} failed; its error message was withheld: ${describeFindings(denied)}`, findings };
  }

  /**
   * The output stage's last step: what the adapter returned, once the output guardrails passed
   * it, masked with the ticket's profile before it is digested, audited or sent. Output that
   * cannot be masked is withheld.
   */
  private outputStage(output: RunOutput, { claims, masking, maxBytes }: Admitted<Prepared>): RunOutput {
    try {
      return masking.maskOutput(output, maxBytes);
    } catch (error) {
      this.log.error(`run ${claims.runId}: masking failed: ${this.describe(error)}`);
      throw new RungateError('INTERNAL', `run ${claims.runId} finished, but its output could not be masked, so it is withheld`);
    }
  }

  /** Error messages can quote row values (a unique violation's key): they leave masked, or not at all. */
  private maskedMessage(message: string, code: string, { claims, masking }: Admitted<Prepared>): string {
    try {
      return masking.maskMessage(message);
    } catch (caught) {
      this.log.error(`run ${claims.runId}: masking its error message failed: ${this.describe(caught)}`);
      return `run ${claims.runId} failed (${code}); its message could not be masked, so it is withheld`;
    }
  }

  private maskingOutcome(masking: RunMasking): { masking?: MaskingReport } {
    const report = masking.report();
    return report ? { masking: report } : {};
  }

  private runEvent(claims: RunTicketClaims, type: string): AuditEventInput {
    return {
      type,
      source: this.options.source,
      runId: claims.runId,
      actor: { user: claims.identity.user, groups: claims.identity.groups, agent: claims.identity.agent, tokenId: claims.identity.tokenId },
      ...(claims.tool ? { tool: claims.tool } : {}),
      runbook: claims.runbook,
      connection: claims.connection,
      params: claims.params,
      ...(claims.rule ? { decision: { effect: 'allow' as const, rule: claims.rule } } : {}),
    };
  }

  /** What every event of an exploration adds to its details: the session it belongs to. */
  private explorationDetails(claims: RunTicketClaims | undefined): { session?: string; exploration?: string } {
    return claims?.explore ? { session: claims.explore.session, exploration: claims.explore.tool } : {};
  }

  /** A refusal names the run only when the ticket verified; otherwise nothing in it is trusted. */
  private async auditRefusal(
    error: RungateError,
    payload: unknown,
    claims: RunTicketClaims | undefined,
    status: 'refused' | 'cancelled' | 'timed_out' = 'refused',
  ): Promise<void> {
    const outcome = { status, errorCode: error.code, error: error.message };
    const details = { executor: this.options.replica, ...this.explorationDetails(claims), ...requestFingerprints(payload) };
    const event: AuditEventInput = claims
      ? { ...this.runEvent(claims, RunEventTypes.failed), outcome, details }
      : { type: RunEventTypes.failed, source: this.options.source, outcome, details };
    try {
      await this.options.audit.publish(event);
    } catch (auditError) {
      this.log.error(`could not audit a refused request (${error.code}): ${this.describe(auditError)}`);
    }
  }

  /**
   * The run happened: its outcome must reach the audit stream. It is published in the
   * event-loop turn after the reply went out — each socket write costs the reply's path —
   * and the reply does not wait for its ack (`started` was the write-ahead). It is retried
   * with the same event id before giving up loudly, and shutdown waits for it.
   */
  private auditTerminal(event: AuditEventInput, start: StartRecord = RECORDED): void {
    this.trail(
      Promise.all([start.recorded, new Promise<void>((resolve) => setImmediate(resolve))]).then(([recorded]) =>
        // After `started`, in the chain's order; one whose start did not commit says so.
        this.publishTerminal(recorded ? event : { ...event, details: { ...event.details, unrecordedStart: true } }),
      ),
    );
  }

  private async publishTerminal(event: AuditEventInput): Promise<void> {
    // One id and one time for every attempt: a retry is the same event, stored once.
    const retried = { ...event, id: randomUUID(), time: event.time ?? new Date().toISOString() };
    const giveUpAt = Date.now() + TERMINAL_AUDIT_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        // Nothing waits on it: the embedded log may store it with the next call's first event.
        await this.options.audit.publish(retried, { trailing: true });
        return;
      } catch (error) {
        if (Date.now() >= giveUpAt) {
          this.log.error(`run ${event.runId}: ${event.type} (event ${retried.id}) is missing from the audit stream after ${attempt} attempts: ${this.describe(error)}`);
          return;
        }
        if (attempt === 1) this.log.warn(`run ${event.runId}: ${event.type} not yet acknowledged, retrying: ${this.describe(error)}`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, TERMINAL_AUDIT_BACKOFF_MAX_MS)));
      }
    }
  }

  /** Typed errors pass; anything else is a bug, logged by name and answered as INTERNAL. */
  private expected(error: unknown, doing: string): RungateError {
    if (error instanceof RungateError) return error;
    this.log.error(`${doing}: unexpected ${this.describe(error)}`);
    return new RungateError('INTERNAL', 'internal error in the executor; see its log');
  }

  /**
   * Adapters only throw scrubbed RungateErrors; anything else could quote a driver's
   * connection string, so only its class and stack frames (no message) are logged.
   */
  private describe(error: unknown): string {
    if (error instanceof RungateError) return `${error.code}: ${error.message}`;
    if (error instanceof Error) return `${error.name}${error.stack ? `\n${error.stack.split('\n').slice(1).join('\n')}` : ''}`;
    return typeof error;
  }
}
