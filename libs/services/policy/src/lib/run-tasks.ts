import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  RunEventTypes,
  RungateError,
  StoredToolResult,
  execResultOf,
  type Identity,
  type RequestMeta,
  type RunTask,
  type TaskOutcome,
  type TasksReply,
  type TasksRequest,
} from '@rungate/contracts';
import { actorOf, type AuditSink } from '@rungate/messaging';
import { quorumOf, type ApprovalRunRecord, type TaskPageKey, type TaskResultRecord } from '@rungate/persistence';
import { AUDIT_SINK, AttemptAudit } from '@rungate/runtime';
import { Approvals, approvalsOf, eventIdOf, notPending, recordRunRefusal, unknownRun } from './approvals';
import { HeldRuns } from './held-runs';

/** How often a requester should ask about a run waiting for humans, and about one running. */
export const POLL_PENDING_MS = 5_000;
export const POLL_WORKING_MS = 1_000;
/** One page of tasks/list. */
export const TASKS_PAGE = 50;

/** A refused tasks/* request: its answer, and the record's reason beside it. */
class TaskRefusal extends Error {
  constructor(
    readonly answer: RungateError,
    readonly reason: string,
    readonly run?: ApprovalRunRecord,
  ) {
    super(answer.message);
  }
}

function lastDecision(run: ApprovalRunRecord, verdict: 'approved' | 'rejected') {
  return [...run.decisions].reverse().find((d) => d.verdict === verdict);
}

/** Who must still approve, and how: the statusMessage of a pending run's task. */
function waitingFor(run: ApprovalRunRecord): string {
  const { groups, count } = quorumOf(run.approval);
  const approved = approvalsOf(run);
  const all = run.approval.allGroups ? ', one in each group' : '';
  return (
    `held for approval: needs ${count} approval${count === 1 ? '' : 's'} (${approved} so far) from ${groups.length === 1 ? 'group' : 'groups'} ${groups.join(', ')}${all} before ${run.expiresAt}; ` +
    `an approver (a human, never the requester) approves it with: rungate approve ${run.runId}`
  );
}

/** MCP's view of a held run (ADR 18 §8): pending is input_required, approved and executing working, the rest ended. */
export function taskOfRun(run: ApprovalRunRecord): RunTask {
  const base = { taskId: run.runId, createdAt: run.createdAt, lastUpdatedAt: run.updatedAt, ttl: null };
  switch (run.state) {
    case 'pending':
      return { ...base, status: 'input_required', statusMessage: waitingFor(run), pollInterval: POLL_PENDING_MS };
    case 'approved':
    case 'executing':
      return { ...base, status: 'working', statusMessage: `approved; run ${run.runId} is ${run.state === 'approved' ? 'starting' : 'executing'}`, pollInterval: POLL_WORKING_MS };
    case 'executed':
      return run.outcome?.status === 'failed'
        ? { ...base, status: 'failed', statusMessage: `run ${run.runId} ran and failed; tasks/result has its output` }
        : { ...base, status: 'completed', statusMessage: `run ${run.runId} was approved and executed` };
    case 'withdrawn':
      return { ...base, status: 'cancelled', statusMessage: `withdrawn by its requester; nothing was executed` };
    default: {
      const { code, message } = endedError(run);
      return { ...base, status: 'failed', statusMessage: `${code}: ${message}` };
    }
  }
}

/** Why a held run ended without a report: what its task's result says (a coded error, as any call's). */
function endedError(run: ApprovalRunRecord): { code: string; message: string } {
  switch (run.state) {
    case 'rejected': {
      const reason = lastDecision(run, 'rejected')?.comment;
      return { code: 'FORBIDDEN', message: `run ${run.runId} was rejected by an approver${reason ? ` (${reason})` : ''}; nothing was executed` };
    }
    case 'expired':
      return { code: 'TIMEOUT', message: `run ${run.runId} expired at ${run.expiresAt} with ${approvalsOf(run)} of ${run.approval.count} approvals; nothing was executed` };
    case 'withdrawn':
      return { code: 'CANCELLED', message: `run ${run.runId} was withdrawn by its requester before it was approved; nothing was executed` };
    default:
      return { code: run.outcome?.errorCode ?? 'INTERNAL', message: run.outcome?.error ?? `run ${run.runId} failed` };
  }
}

/** What tasks/result answers for a held run that ended; undefined while it has not. */
function outcomeOfRun(run: ApprovalRunRecord): TaskOutcome | undefined {
  if (['pending', 'approved', 'executing'].includes(run.state)) return undefined;
  if (run.state === 'executed' && run.outcome?.result) {
    const report = execResultOf(run.outcome.result, run.outcome.status);
    if (report) return { kind: 'report', tool: run.tool, report };
    return { kind: 'error', code: 'INTERNAL', message: `run ${run.runId} executed, but its stored result cannot be read; see the audit log` };
  }
  return { kind: 'error', ...endedError(run) };
}

function taskOfResult(task: TaskResultRecord): RunTask {
  const { code, message } = task.result['structuredContent'] as { code?: unknown; message?: unknown };
  const failure = typeof code === 'string' && typeof message === 'string' ? `${code}: ${message}` : `${task.tool} answered an error; tasks/result has it`;
  return {
    taskId: task.taskId,
    status: task.status,
    statusMessage: task.status === 'failed' ? failure : `${task.tool} was not held and answered at once`,
    createdAt: task.createdAt,
    lastUpdatedAt: task.createdAt,
    ttl: null,
  };
}

function encodeCursor(key: TaskPageKey): string {
  return Buffer.from(JSON.stringify([key.createdUs, key.id])).toString('base64url');
}

function decodeCursor(cursor: string): TaskPageKey {
  try {
    const [createdUs, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown[];
    if (typeof createdUs === 'string' && /^\d{1,20}$/.test(createdUs) && typeof id === 'string') return { createdUs, id };
  } catch {
    // answered below
  }
  throw new TaskRefusal(new RungateError('BAD_REQUEST', 'cursor: not a nextCursor tasks/list answered'), 'a tasks/list cursor no page answered');
}

/** Newer first; the same µs by id, as both stores order. */
function newerFirst(a: TaskPageKey, b: TaskPageKey): number {
  const byTime = BigInt(b.createdUs) - BigInt(a.createdUs);
  if (byTime !== 0n) return byTime > 0n ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * `rungate.policy.tasks.v1` (ADR 18 §8): MCP tasks over held runs, answered from the database
 * by any policy replica, so any gateway replica (and a restarted `rungate serve`) answers a
 * task whichever one created it. A task is its requester's only — the same user, through any
 * agent, as for `rungate_run_status`; anyone else's answers UNKNOWN_RUN, exactly as a task
 * that does not exist, and is an attempt on the record. Cancelling a task withdraws its pending
 * run: one conditional UPDATE, so a run an approver approved first is not withdrawn, and a
 * withdrawn run never executes.
 */
@Injectable()
export class RunTasks {
  private readonly log = new Logger(RunTasks.name);

  constructor(
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    private readonly attempts: AttemptAudit,
    private readonly held: HeldRuns,
    private readonly approvals: Approvals,
  ) {}

  async handle(request: TasksRequest): Promise<TasksReply> {
    try {
      return await this.act(request);
    } catch (error) {
      if (!(error instanceof TaskRefusal)) throw error;
      const runId = 'taskId' in request ? request.taskId : undefined;
      throw await recordRunRefusal(this.attempts, this.log, { action: `task-${request.action}`, identity: request.identity, meta: request.meta, runId }, error.answer, error.reason, error.run);
    }
  }

  private async act(request: TasksRequest): Promise<TasksReply> {
    const { identity } = request;
    if (!this.held.available) {
      if (request.action === 'list') return { tasks: [] };
      if (request.action === 'record') throw new RungateError('SERVICE_UNAVAILABLE', 'this policy has no database, so no task can be kept');
      throw new TaskRefusal(unknownRun(request.taskId), 'no task is kept here: this policy has no database');
    }
    switch (request.action) {
      case 'get':
        return this.get(identity, request.taskId);
      case 'list':
        return this.list(identity, request.cursor);
      case 'cancel':
        return this.cancel(identity, request.meta, request.taskId);
      case 'record':
        return this.record(identity, request.tool, request.result);
    }
  }

  private async get(identity: Identity, taskId: string): Promise<TasksReply> {
    const run = await this.ownRun(identity, taskId);
    if (run) {
      const outcome = outcomeOfRun(run);
      return { tasks: [taskOfRun(run)], ...(outcome ? { outcome } : {}) };
    }
    const stored = await (await this.held.taskResults()).get(taskId, identity.user);
    if (!stored) throw await this.unknown(identity, taskId);
    return { tasks: [taskOfResult(stored)], outcome: { kind: 'stored', result: StoredToolResult.parse(stored.result) } };
  }

  /** The held run of this id if the identity requested it, as it is now (one past its expiry expired first). */
  private async ownRun(identity: Identity, runId: string): Promise<ApprovalRunRecord | undefined> {
    const store = await this.held.store();
    const run = await store.get(runId);
    if (!run || run.requester.identity.user !== identity.user) return undefined;
    return (await this.approvals.expireIfDue(store, run)) ?? run;
  }

  /** UNKNOWN_RUN, whether there is no such task or it is someone else's; the record says which. */
  private async unknown(identity: Identity, taskId: string): Promise<TaskRefusal> {
    const other = await (await this.held.store()).get(taskId);
    return new TaskRefusal(unknownRun(taskId), other ? `${identity.user} asked for the task of ${other.requester.identity.user}'s run` : 'no such task');
  }

  private async list(identity: Identity, cursor: string | undefined): Promise<TasksReply> {
    const before = cursor === undefined ? undefined : decodeCursor(cursor);
    const store = await this.held.store();
    const [runs, results] = await Promise.all([store.requestedBy(identity.user, TASKS_PAGE + 1, before), (await this.held.taskResults()).requestedBy(identity.user, TASKS_PAGE + 1, before)]);
    const merged = [
      ...runs.map(({ run, key }) => ({ key, task: async () => taskOfRun((await this.approvals.expireIfDue(store, run)) ?? run) })),
      ...results.map(({ task, key }) => ({ key, task: () => Promise.resolve(taskOfResult(task)) })),
    ].sort((a, b) => newerFirst(a.key, b.key));
    const page = merged.slice(0, TASKS_PAGE);
    const last = page[page.length - 1];
    return { tasks: await Promise.all(page.map((p) => p.task())), ...(merged.length > TASKS_PAGE && last ? { nextCursor: encodeCursor(last.key) } : {}) };
  }

  private async cancel(identity: Identity, meta: RequestMeta, taskId: string): Promise<TasksReply> {
    const run = await this.ownRun(identity, taskId);
    if (!run) {
      const stored = await (await this.held.taskResults()).get(taskId, identity.user);
      if (!stored) throw await this.unknown(identity, taskId);
      throw new TaskRefusal(new RungateError('RUN_NOT_PENDING', `task ${taskId} already ended (${stored.status}): it was not held`), 'tasks/cancel of a task that already ended');
    }
    const withdrawn = await (await this.held.store()).withdraw(run.runId, identity.user);
    if (!withdrawn) {
      const now = (await this.ownRun(identity, taskId)) ?? run;
      throw new TaskRefusal(notPending(now), `tasks/cancel of run ${run.runId}, which is ${now.state}: only a pending run can be withdrawn`, now);
    }
    this.log.log(`held run ${withdrawn.runId} withdrawn by its requester ${identity.user}`);
    // The run is withdrawn whatever the record does (that can only fail closed); a lost event is said in the log and the answer.
    await this.audit
      .publish({
      id: eventIdOf(withdrawn.runId, 'withdrawn'),
      type: RunEventTypes.withdrawn,
      source: 'policy',
      runId: withdrawn.runId,
      tool: withdrawn.tool,
      actor: actorOf(identity, meta),
      runbook: withdrawn.runbook,
      connection: withdrawn.connection,
      details: { approvals: approvalsOf(withdrawn), count: withdrawn.approval.count },
    })
      .catch((error: Error) => {
        this.log.error(`run ${withdrawn.runId} was withdrawn, but audit.run.withdrawn could not be stored: ${error.message}`);
        throw new RungateError('AUDIT_UNAVAILABLE', `run ${withdrawn.runId} was withdrawn and will never execute, but the withdrawal could not be put on the record`);
      });
    return { tasks: [taskOfRun(withdrawn)] };
  }

  private async record(identity: Identity, tool: string, result: StoredToolResult): Promise<TasksReply> {
    const stored = await (await this.held.taskResults()).record({
      taskId: randomUUID(),
      requester: identity.user,
      ...(identity.agent ? { agent: identity.agent } : {}),
      tool,
      status: result.isError ? 'failed' : 'completed',
      result,
    });
    return { tasks: [taskOfResult(stored)] };
  }
}
