import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { WINDOW_HORIZON_DAYS, nextOpening } from '@rungate/config';
import { EXEC_HEARTBEAT_MS, EXEC_REPORT_GRACE_MS, ExecResult, MAX_TICKET_CHARS, RunEventTypes, RungateError, describeWindow, execResultContent, execSubject, type Identity } from '@rungate/contracts';
import { actorOf, isTransportError, type AuditSink, type Bus } from '@rungate/messaging';
import type { ApprovalRunRecord, ApprovalRunStore, HeldOutcome } from '@rungate/persistence';
import { decide, permits, runbookKey } from '@rungate/policy';
import { AUDIT_SINK, BUS, CONFIG, type ConfigHolder } from '@rungate/runtime';
import { GuardrailSet } from './guardrail-set';
import { HeldRuns } from './held-runs';
import { signRunbookTicket } from './run-ticket';
import { TicketSigner } from './ticket-signer';

/** A timer fires this long after its slot opens, so the database's clock has reached it too. */
const WAKE_MARGIN_MS = 1000;
/** setTimeout's longest delay is about 24.8 days; a slot is at most 8 days away, but a timer is re-armed if it fires early. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The requester as a decision sees them: the identity stored with the run, its token's narrowing included. */
function requesterOf(run: ApprovalRunRecord): Identity {
  const { identity } = run.requester;
  return { ...identity, scope: identity.scope ?? {} };
}

/**
 * Runs an approved run exactly once, exactly as approved (ADR 18 §5): the caller that moves it
 * `approved → executing` (one conditional UPDATE; only one can) re-checks that its connection
 * and rule still exist and still allow the requester — if not the run fails closed, nothing
 * executed — then signs a fresh ticket from the stored row (same run id, commit, body hash and
 * parameters) and sends `{ticket, body}` to `exec.<type>` itself: the agent's call is long
 * over. The executor checks the body against the ticket's hash and its run ledger refuses a
 * run id twice. What the runbook is now, or where its branch points, does not matter: the
 * stored body runs.
 */
@Injectable()
export class ApprovedRuns implements OnApplicationShutdown {
  private readonly log = new Logger(ApprovedRuns.name);
  private readonly running = new Set<Promise<void>>();
  /** Runs waiting for their change window on this replica: a timer each, to the slot's opening. */
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    @Inject(BUS) private readonly bus: Bus,
    private readonly signer: TicketSigner,
    private readonly guardrails: GuardrailSet,
    private readonly held: HeldRuns,
  ) {}

  /**
   * The slot an approved run with change windows may start in (ADR 18 §1), computed once from
   * the database's clock and stored: the window open now (from now), or its next opening. A run
   * whose windows do not open together within the horizon fails closed, never executed.
   */
  async schedule(run: ApprovalRunRecord): Promise<ApprovalRunRecord> {
    const { windows } = run.approval;
    if (run.state !== 'approved' || !windows?.length || run.startsAt) return run;
    const store = await this.held.store();
    const slot = nextOpening(windows, await store.now());
    if (!slot) {
      const why = `its change windows (${windows.map(describeWindow).join('; ')}) do not open together within ${WINDOW_HORIZON_DAYS} days; nothing was executed`;
      return this.failBeforeRun(store, run, 'FORBIDDEN', why, 'approved');
    }
    const scheduled = (await store.schedule(run.runId, slot)) ?? run;
    if (scheduled.startsAt && Date.parse(scheduled.startsAt) > Date.parse(scheduled.updatedAt)) this.log.log(`approved run ${run.runId} waits for its change window: it may start at ${scheduled.startsAt}`);
    return scheduled;
  }

  /**
   * Starts an approved run and answers it as it then is: `executing` (the executor's report is
   * stored when it comes), `failed` when the re-check refused it, or as another caller left it.
   * One waiting for its change window stays `approved`, with a timer to its slot's opening (the
   * sweep starts it too, should this replica stop); only the conditional claim starts it, and
   * only inside the slot, on the database's clock.
   */
  async start(run: ApprovalRunRecord): Promise<ApprovalRunRecord> {
    const store = await this.held.store();
    const scheduled = await this.schedule(run);
    if (scheduled.state !== 'approved') return scheduled;
    const claimed = await store.claim(run.runId);
    if (!claimed) {
      const now = (await store.get(run.runId)) ?? scheduled;
      if (now.state === 'approved' && now.startsAt) await this.wakeAt(store, now);
      return now;
    }
    const connection = this.config.current.connections.find((c) => c.name === claimed.connection.name && c.type === claimed.connection.type);
    const refusal = this.recheck(claimed, connection !== undefined);
    if (refusal || !connection) return this.failBeforeRun(store, claimed, 'FORBIDDEN', `${refusal}; nothing was executed`);
    const { ticket } = signRunbookTicket(this.signer, this.config.current, this.guardrails.current, connection, {
      runId: claimed.runId,
      identity: withoutScope(claimed.requester.identity),
      runbook: claimed.runbook,
      bodySha256: claimed.bodySha256,
      tool: claimed.tool,
      connection: claimed.connection,
      params: claimed.params,
      env: claimed.env,
      ...claimed.execution,
      dryRun: false,
      rule: claimed.rule,
    });
    if (ticket.length > MAX_TICKET_CHARS) {
      return this.failBeforeRun(store, claimed, 'PARAMS_TOO_LARGE', `the run ticket would be ${ticket.length} characters; the limit is ${MAX_TICKET_CHARS}, so the run was not executed`);
    }
    const sending = this.send(store, claimed, ticket).finally(() => this.running.delete(sending));
    this.running.add(sending);
    return claimed;
  }

  /** Why the run may no longer go, or undefined: the configuration in force must still allow exactly this run. */
  private recheck(run: ApprovalRunRecord, connectionExists: boolean): string | undefined {
    const { rules } = this.config.current;
    if (!connectionExists) return `connection ${run.connection.name} was removed after approval`;
    if (!rules.some((rule) => rule.name === run.rule)) return `rule ${run.rule} was removed after approval`;
    const identity = requesterOf(run);
    // Password-typed values are stored redacted: a rule can only be re-checked on what was stored.
    const decision = decide({ identity, runbook: runbookKey(run.runbook), connection: run.connection.name, params: run.params }, rules);
    if (!permits(decision)) return `the rules no longer allow ${identity.user} to run ${run.tool} on ${run.connection.name} (${decision.reason})`;
    return undefined;
  }

  /** A timer on this replica to the opening of the run's slot; the sweep is the safety net when this replica stops. */
  private async wakeAt(store: ApprovalRunStore, run: ApprovalRunRecord): Promise<void> {
    if (this.timers.has(run.runId) || this.stopped || !run.startsAt) return;
    const now = await store.now();
    // A slot already closed is the sweep's to end (expired): nothing to wait for.
    if (run.windowEndsAt && Date.parse(run.windowEndsAt) <= now) return;
    const wait = Date.parse(run.startsAt) - now;
    // A little past the opening, so the database's clock is there too when the claim is tried.
    const timer = setTimeout(
      () => {
        this.timers.delete(run.runId);
        void this.start(run).catch((error: Error) => this.log.error(`could not start approved run ${run.runId} in its window: ${error.message}`));
      },
      Math.min(Math.max(wait, 0) + WAKE_MARGIN_MS, MAX_TIMER_MS),
    );
    timer.unref();
    this.timers.set(run.runId, timer);
  }

  private async failBeforeRun(store: ApprovalRunStore, run: ApprovalRunRecord, errorCode: string, error: string, from: 'approved' | 'executing' = 'executing'): Promise<ApprovalRunRecord> {
    this.log.warn(`approved run ${run.runId} failed before it ran: ${error}`);
    const failed = await store.transition(run.runId, { from: [from], to: 'failed', outcome: { status: 'failed', errorCode, error } });
    await this.audit.publish({
      type: RunEventTypes.failed,
      source: 'policy',
      runId: run.runId,
      tool: run.tool,
      actor: actorOf(requesterOf(run), run.requester.meta),
      runbook: run.runbook,
      connection: run.connection,
      outcome: { status: 'failed', exitCode: null, errorCode, error },
    });
    return failed ?? run;
  }

  /** Sends the run and stores how it ended; the executor puts its own started and outcome on the record. */
  private async send(store: ApprovalRunStore, run: ApprovalRunRecord, ticket: string): Promise<void> {
    let outcome: HeldOutcome;
    let state: 'executed' | 'failed';
    try {
      const report = await this.bus.request(execSubject(run.connection.type), { ticket, body: run.body }, ExecResult, {
        timeoutMs: run.execution.limits.timeoutMs + EXEC_REPORT_GRACE_MS,
        heartbeatMs: EXEC_HEARTBEAT_MS,
      });
      state = 'executed';
      outcome = { status: report.status, result: execResultContent(report) };
    } catch (error) {
      state = 'failed';
      if (isTransportError(error)) {
        outcome = { status: 'failed', errorCode: 'OUTCOME_UNKNOWN', error: `the ${run.connection.type} executor did not report run ${run.runId} (${error.message}); its outcome is unknown — check the audit log` };
      } else {
        const coded = error instanceof RungateError ? error : new RungateError('INTERNAL', 'internal error');
        outcome = { status: 'failed', errorCode: coded.code, error: coded.message };
      }
    }
    try {
      await store.transition(run.runId, { from: ['executing'], to: state, outcome });
      this.log.log(`approved run ${run.runId}: ${state}${outcome.errorCode ? ` (${outcome.errorCode})` : ''}`);
    } catch (error) {
      this.log.error(`approved run ${run.runId} ${state}, but that could not be stored: ${(error as Error).message}`);
    }
  }

  /** Runs already sent are waited for (each within its runbook's timeout), so their outcome is stored; runs waiting for a window are left to the sweep. */
  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.running]);
  }
}

function withoutScope(identity: ApprovalRunRecord['requester']['identity']): Omit<ApprovalRunRecord['requester']['identity'], 'scope'> {
  const { scope: _scope, ...claims } = identity;
  return claims;
}
