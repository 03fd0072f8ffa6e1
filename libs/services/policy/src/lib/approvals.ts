import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import {
  RunEventTypes,
  RungateError,
  attemptCodeOf,
  type ApprovalDecision,
  type ApprovalRun,
  type ApprovalsReply,
  type ApprovalsRequest,
  type Identity,
  type RequestMeta,
} from '@rungate/contracts';
import { actorOf, derivedEventId, type AuditSink } from '@rungate/messaging';
import { deciderGroupsOf, quorumOf, slotOf, type ApprovalRunRecord, type ApprovalRunStore } from '@rungate/persistence';
import { AUDIT_SINK, AttemptAudit } from '@rungate/runtime';
import { ApprovedRuns } from './approved-runs';
import { HeldRuns } from './held-runs';
import { recordedAnswer } from './refusal';

/** Every replica sweeps this often (ADR 18 §2); the conditional UPDATE expires each run once. */
export const SWEEP_EVERY_MS = 30_000;

/** One event id per run and change, whichever replica publishes it: JetStream's duplicate window keeps it once. */
export function eventIdOf(runId: string, change: string): string {
  return derivedEventId(`${runId}:${change}`);
}

export function approvalsOf(run: ApprovalRunRecord): number {
  return run.decisions.filter((d) => d.verdict === 'approved').length;
}

/** A held run as its requester and approvers see it (ADR 18 §4). */
export function approvalRunView(run: ApprovalRunRecord): ApprovalRun {
  const { identity } = run.requester;
  return {
    runId: run.runId,
    state: run.state,
    tool: run.tool,
    rule: run.rule,
    runbook: run.runbook,
    connection: run.connection,
    body: run.body,
    bodySha256: run.bodySha256,
    params: run.params,
    requester: { user: identity.user, ...(identity.agent ? { agent: identity.agent } : {}) },
    approval: { ...quorumOf(run.approval), approved: approvalsOf(run) },
    ...(run.approval.windows ? { windows: run.approval.windows } : {}),
    holds: run.approval.holds,
    decisions: run.decisions,
    createdAt: run.createdAt,
    expiresAt: run.expiresAt,
    ...slotOf(run),
    ...(run.outcome ? { outcome: run.outcome } : {}),
  };
}

/** The identity's groups that may decide this run (approver and break-glass groups), as they are now. */
function decidingGroups(identity: Identity, run: ApprovalRunRecord): string[] {
  const groups = new Set(identity.groups);
  return deciderGroupsOf(run.approval).filter((g) => groups.has(g));
}

function isApprover(identity: Identity, run: ApprovalRunRecord): boolean {
  return decidingGroups(identity, run).length > 0;
}

/** A refused request about a held run: what the caller is told, and what the record says beside it. */
class ApprovalRefusal extends Error {
  constructor(
    readonly answer: RungateError,
    readonly run?: ApprovalRunRecord,
    readonly reason: string = answer.message,
  ) {
    super(answer.message);
  }
}

/**
 * `rungate.policy.approvals.v1` (ADR 18 §3, §4): the pending runs an identity may approve,
 * one run for its requester or approvers, and the decisions. A decision is a human's — an
 * agent token never decides (AGENT_CANNOT_APPROVE) — by someone in an approver group at the
 * time of deciding (NOT_AN_APPROVER), never the requester's own human through any agent
 * (SELF_APPROVAL), on a run still pending and not past its expiry (RUN_NOT_PENDING; a decision
 * on a run past expiry first expires it). Each refusal is an attempt on the record
 * (approval-refused); each decision is `audit.run.approved` or `audit.run.rejected`, with its
 * actor and comment, on the record before it is answered. The decision completing the quorum
 * starts the run (ApprovedRuns).
 */
@Injectable()
export class Approvals implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger(Approvals.name);
  private sweeper?: NodeJS.Timeout;

  constructor(
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    private readonly attempts: AttemptAudit,
    private readonly held: HeldRuns,
    private readonly approved: ApprovedRuns,
  ) {}

  /** The sweep runs at start-up and every 30 s on every replica; without a database no run is ever held. */
  onModuleInit(): void {
    if (!this.held.available) return;
    void this.sweep();
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }

  async handle(request: ApprovalsRequest): Promise<ApprovalsReply> {
    try {
      return { runs: await this.act(request) };
    } catch (error) {
      if (!(error instanceof ApprovalRefusal)) throw error;
      throw await this.recordRefusal(request, error);
    }
  }

  private async act(request: ApprovalsRequest): Promise<ApprovalRun[]> {
    const { identity } = request;
    if (!this.held.available) {
      // Without a database no run is ever held (the call is refused instead): nothing to list, no run to find.
      if (request.action === 'list') return [];
      throw new ApprovalRefusal(unknownRun(request.runId), undefined, 'no run is held here: this policy has no database to hold runs in');
    }
    const store = await this.held.store();
    if (request.action === 'list') {
      const runs = await store.pending();
      return runs.filter((run) => this.mayDecide(identity, run) && !run.decisions.some((d) => d.actor.user === identity.user)).map(approvalRunView);
    }
    if (request.action === 'get') {
      const run = await this.current(store, request.runId);
      if (!run || (run.requester.identity.user !== identity.user && !isApprover(identity, run))) {
        throw new ApprovalRefusal(unknownRun(request.runId), undefined, run ? `${identity.user} is neither the requester nor an approver of run ${run.runId}` : 'no such held run');
      }
      return [approvalRunView(run)];
    }
    // An agent token never decides, whatever the run: checked before anything about the run is looked at.
    if (identity.human !== true) {
      throw new ApprovalRefusal(new RungateError('AGENT_CANNOT_APPROVE', `${identity.agent ? `agent ${identity.agent}` : 'this token'} acts for ${identity.user} but is no human credential; only a human approves or rejects a run`));
    }
    const before = await store.get(request.runId);
    if (!before) throw new ApprovalRefusal(unknownRun(request.runId), undefined, 'no such held run');
    const requester = before.requester.identity.user;
    if (requester === identity.user) {
      throw new ApprovalRefusal(new RungateError('SELF_APPROVAL', `run ${before.runId} was requested by ${requester} (via ${before.requester.identity.agent ?? 'a token'}); its requester never decides it, through any agent`), before);
    }
    if (!isApprover(identity, before)) {
      throw new ApprovalRefusal(new RungateError('NOT_AN_APPROVER', `run ${before.runId} is decided by groups ${deciderGroupsOf(before.approval).join(', ')}; ${identity.user} is in none of them`), before);
    }
    const run = (await this.expireIfDue(store, before)) ?? before;
    if (run.state !== 'pending') throw new ApprovalRefusal(notPending(run), run);
    // The groups are recorded as they are now: allGroups counts them, and break glass is decided by them (the store evaluates both).
    const groups = decidingGroups(identity, run);
    const breakGlass = request.action === 'approve' && groups.some((g) => run.approval.breakGlassGroups?.includes(g));
    const decision: ApprovalDecision = {
      actor: { user: identity.user, ...(identity.agent ? { agent: identity.agent } : {}) },
      verdict: request.action === 'approve' ? 'approved' : 'rejected',
      ...(request.action === 'approve' ? (request.comment ? { comment: request.comment } : {}) : { comment: request.reason }),
      at: new Date().toISOString(),
      groups,
      ...(breakGlass ? { breakGlass: true } : {}),
    };
    const decided = request.action === 'approve' ? await store.approve(run.runId, decision) : await store.reject(run.runId, decision);
    if (!decided) {
      // Another decision (or the expiry) got there first, or this approver's own already counted.
      const now = (await this.current(store, run.runId)) ?? run;
      const counted = now.decisions.some((d) => d.actor.user === identity.user);
      const answer = counted && now.state === 'pending' ? new RungateError('RUN_NOT_PENDING', `your decision on run ${now.runId} already counted; each approver counts once`) : notPending(now);
      throw new ApprovalRefusal(answer, now);
    }
    // A quorum with change windows gets its slot first: audit.run.approved says when it may start.
    const scheduled = await this.approved.schedule(decided);
    await this.recordDecision(store, scheduled, decision, request.meta, identity);
    return [approvalRunView(scheduled.state === 'approved' ? await this.approved.start(scheduled) : scheduled)];
  }

  private mayDecide(identity: Identity, run: ApprovalRunRecord): boolean {
    return run.requester.identity.user !== identity.user && isApprover(identity, run);
  }

  /** The run as it is now: one past its expiry is expired (and audited) first. */
  private async current(store: ApprovalRunStore, runId: string): Promise<ApprovalRunRecord | undefined> {
    const run = await store.get(runId);
    if (!run) return undefined;
    return (await this.expireIfDue(store, run)) ?? run;
  }

  /** A pending run past its expiry is expired (and audited) first; undefined when it was not due. */
  async expireIfDue(store: ApprovalRunStore, run: ApprovalRunRecord): Promise<ApprovalRunRecord | undefined> {
    if (run.state !== 'pending' || Date.parse(run.expiresAt) > Date.now()) return undefined;
    const [expired] = await store.expireDue(run.runId);
    if (expired) await this.recordExpiry(expired);
    return expired ?? (await store.get(run.runId));
  }

  /**
   * The decision on the record before it is answered. When it cannot be, a decision that
   * completed the quorum does not run: the run fails closed, since it would run unrecorded.
   */
  private async recordDecision(store: ApprovalRunStore, run: ApprovalRunRecord, decision: ApprovalDecision, meta: RequestMeta, identity: Identity): Promise<void> {
    try {
      await this.audit.publish({
        id: eventIdOf(run.runId, `${decision.verdict}:${decision.actor.user}`),
        type: decision.verdict === 'approved' ? RunEventTypes.approved : RunEventTypes.rejected,
        source: 'policy',
        runId: run.runId,
        tool: run.tool,
        actor: actorOf(identity, meta),
        runbook: run.runbook,
        connection: run.connection,
        details: {
          ...(decision.comment ? { comment: decision.comment } : {}),
          ...(decision.breakGlass ? { breakGlass: true } : {}),
          groups: decision.groups,
          requester: run.requester.identity.user,
          approvals: approvalsOf(run),
          count: run.approval.count,
          ...(run.approval.allGroups ? { allGroups: true } : {}),
          state: run.state,
          ...slotOf(run),
        },
      });
    } catch (error) {
      if (run.state === 'approved') {
        await store
          .transition(run.runId, { from: ['approved'], to: 'failed', outcome: { status: 'failed', errorCode: 'AUDIT_UNAVAILABLE', error: 'the approval could not be put on the record; nothing was executed' } })
          .catch(() => undefined);
      }
      throw error;
    }
  }

  private async recordExpiry(run: ApprovalRunRecord): Promise<void> {
    const { identity, meta } = run.requester;
    await this.audit.publish({
      id: eventIdOf(run.runId, 'expired'),
      type: RunEventTypes.expired,
      source: 'policy',
      runId: run.runId,
      tool: run.tool,
      actor: actorOf({ ...identity, scope: identity.scope ?? {} }, meta),
      runbook: run.runbook,
      connection: run.connection,
      details: { expiresAt: run.expiresAt, approvals: approvalsOf(run), count: run.approval.count, ...slotOf(run), ...(run.outcome?.error ? { reason: run.outcome.error } : {}) },
    });
  }

  /**
   * Expires the runs past their expiry and the approved runs whose change window closed
   * unstarted, gives approved runs waiting for their window a slot and a timer, starts approved
   * runs a stopped replica left unstarted (only inside their slot) and ends those it left
   * executing; idempotent on every replica.
   */
  async sweep(): Promise<void> {
    try {
      const store = await this.held.store();
      for (const run of await store.expireDue()) {
        this.log.log(`held run ${run.runId} expired at ${run.expiresAt} with ${approvalsOf(run)} of ${run.approval.count} approvals`);
        await this.recordExpiry(run).catch((error: Error) => this.log.error(`could not audit the expiry of run ${run.runId}: ${error.message}`));
      }
      for (const run of await store.expireMissedWindows()) {
        this.log.warn(`approved run ${run.runId} expired: its change window closed at ${run.windowEndsAt} before any policy started it`);
        await this.recordExpiry(run).catch((error: Error) => this.log.error(`could not audit the expiry of run ${run.runId}: ${error.message}`));
      }
      // A quorum left without its slot (its policy stopped in between) gets one; one waiting for its slot gets a timer here too.
      for (const run of [...(await store.unscheduled()), ...(await store.waitingForWindow())]) {
        await this.approved.start(run).catch((error: Error) => this.log.error(`could not schedule approved run ${run.runId}: ${error.message}`));
      }
      for (const run of await store.stalledApproved(SWEEP_EVERY_MS)) {
        this.log.warn(`approved run ${run.runId} could start (approved, or its window open) but nobody started it (a policy stopped); starting it now`);
        await this.approved.start(run).catch((error: Error) => this.log.error(`could not start approved run ${run.runId}: ${error.message}`));
      }
      for (const run of await store.abandonStale()) this.log.warn(`approved run ${run.runId} was left executing by a stopped policy; its outcome is unknown`);
    } catch (error) {
      this.log.error(`the approvals sweep failed (it runs again in ${SWEEP_EVERY_MS / 1000} s): ${(error as Error).message}`);
    }
  }

  private async recordRefusal(request: ApprovalsRequest, refusal: ApprovalRefusal): Promise<RungateError> {
    return recordRunRefusal(this.attempts, this.log, { ...request, runId: 'runId' in request ? request.runId : undefined }, refusal.answer, refusal.reason, refusal.run);
  }
}

/**
 * A refused request about a held run (or an MCP task) on the record as an attempt
 * (approval-refused, with the action), answered as recorded; when the record cannot be stored the
 * answer still goes, and the log says so.
 */
export async function recordRunRefusal(
  attempts: AttemptAudit,
  log: Logger,
  request: { action: string; identity: Identity; meta: RequestMeta; runId?: string | undefined },
  answer: RungateError,
  reason: string,
  run?: ApprovalRunRecord,
): Promise<RungateError> {
  try {
    await attempts.record({
      source: 'policy',
      actor: actorOf(request.identity, request.meta),
      code: attemptCodeOf(answer.code),
      reason,
      answered: answer.code,
      ...(run ? { tool: run.tool, runbook: run.runbook, connection: run.connection } : {}),
      ...(request.runId ? { runId: request.runId } : {}),
      details: { action: request.action },
    });
  } catch (error) {
    log.error(`could not record the refused ${request.action} (${answer.code}): ${(error as Error).message}`);
    return answer;
  }
  return recordedAnswer(answer);
}

export function unknownRun(runId: string): RungateError {
  return new RungateError('UNKNOWN_RUN', `unknown run ${runId}`);
}

export function notPending(run: ApprovalRunRecord): RungateError {
  const why = run.state === 'expired' ? `expired at ${run.expiresAt}` : `is ${run.state}`;
  return new RungateError('RUN_NOT_PENDING', `run ${run.runId} ${why}; only a pending run can be decided`);
}
