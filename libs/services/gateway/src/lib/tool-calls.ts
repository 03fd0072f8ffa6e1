import { Inject, Injectable, Logger } from '@nestjs/common';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  ApprovalsReply,
  AuthorizeReply,
  BearerAuthorizeReply,
  type AllowReply,
  ERROR_EDGES,
  EXEC_HEARTBEAT_MS,
  EXEC_REPORT_GRACE_MS,
  ExecResult,
  MAX_FORWARDED_JSON_DEPTH,
  MAX_TOOL_NAME,
  attemptCodeOf,
  RunEventTypes,
  RungateError,
  Subjects,
  ToolsReply,
  execCancelSubject,
  execSubject,
  jsonDepth,
  type ApprovalRequiredResult,
  type ApprovalRun,
  type AttemptCode,
  type AuditOutcome,
  type ExecCancel,
  type Identity,
  type RequestMeta,
  type StopReason,
  type ToolDefinition,
} from '@rungate/contracts';
import { actorOf, isNoResponders, isTransportError, setRunId, type AuditSink, type Bus } from '@rungate/messaging';
import { AUDIT_SINK, BUS, CONFIG, Metrics, type ConfigHolder } from '@rungate/runtime';
import { EdgeAttempts } from './edge-attempts';
import { Authenticator } from './identity.guard';
import {
  HELD_KEEPALIVE_MS,
  HELD_POLL_MS,
  HELD_POLL_TIMEOUT_MS,
  ProgressCounter,
  endedAnswer,
  hasEnded,
  progressKey,
  progressMessage,
  progressOf,
  quorumSize,
  type ProgressSink,
} from './held-wait';
import { errorResult, renderHeld, reportResult } from './render';

export type ToolCallResult = CallToolResult;

/**
 * Thrown by `ToolCalls.call` when its caller cancelled it: the run was stopped (or never
 * sent), and the MCP answer to a cancelled request is no answer at all.
 */
export class CallCancelled extends Error {
  constructor() {
    super('the caller cancelled the call');
    this.name = 'CallCancelled';
  }
}

const AUTHORIZE_TIMEOUT_MS = 10_000;

/**
 * How one call may end early: its caller cancels it (the signal: a `notifications/cancelled`
 * or the request's connection closing), or `gateway.callTimeout` runs out. Whichever comes first.
 */
class CallLimit {
  reason?: StopReason;
  readonly stopped: Promise<StopReason>;
  private timer?: NodeJS.Timeout;
  private onAbort?: () => void;

  /** `elapsedMs`: how much of the call's time has passed already (an authorization begun before, ADR 24). */
  constructor(
    private readonly signal: AbortSignal,
    readonly timeoutMs: number,
    elapsedMs = 0,
  ) {
    this.stopped = new Promise<StopReason>((resolve) => {
      const stop = (reason: StopReason) => {
        if (this.reason) return;
        this.reason = reason;
        this.dispose();
        resolve(reason);
      };
      this.onAbort = () => stop('cancelled');
      if (signal.aborted) return stop('cancelled');
      if (elapsedMs >= timeoutMs) return stop('call_timeout');
      signal.addEventListener('abort', this.onAbort, { once: true });
      this.timer = setTimeout(() => stop('call_timeout'), timeoutMs - elapsedMs);
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
    if (this.onAbort) this.signal.removeEventListener('abort', this.onAbort);
  }
}

/**
 * How a call ended, before MCP renders it: the executor's report, the typed error it failed
 * with, a run held for approval (nothing sent to an executor), or policy's own answer (a
 * built-in tool that runs nothing).
 */
type HeldReply = Extract<AuthorizeReply, { effect: 'approval_required' }>;
/** Policy's answer to an authorization: its decision, or why there is none (a typed refusal, the bus failing). */
export type Decided = { decision: AuthorizeReply } | { error: unknown };

/**
 * A tools/call whose authorization began before the MCP SDK saw it (ADR 24): when it began (the
 * call's time limit counts from then), and policy's answer when it came with the identity
 * (authorize.v2); without one (an older policy) the call is authorized as before.
 */
export interface EarlyAuthorization {
  startedAt: number;
  decided?: Decided;
}

/** What a tools/call asks policy, beside who asks. */
export interface CallRequest {
  tool: string;
  args: Record<string, unknown>;
  idempotencyKey: unknown;
  session?: string;
  task: boolean;
}

type CallAnswer = { report: ExecResult } | { error: RungateError } | { held: HeldReply } | { answered: Extract<AuthorizeReply, { effect: 'answered' }> };

/** The path of one call (docs/design.md §2): authorize with policy, then run on an executor. */
@Injectable()
export class ToolCalls {
  private readonly log = new Logger(ToolCalls.name);

  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    @Inject(CONFIG) private readonly config: ConfigHolder,
    private readonly attempts: EdgeAttempts,
    private readonly authenticator: Authenticator,
  ) {}

  /**
   * Authenticates the bearer token and authorizes the call in one round trip to policy
   * (authorize.v2, ADR 24). Rejects as authenticate.v1 does when the token does not
   * authenticate or policy cannot be asked; a refusal of the call itself is the answer's.
   * When no policy replica serves authorize.v2 (older replicas mid-upgrade: the request
   * reached nobody) the token is authenticated with authenticate.v1 and the call is left to
   * authorize.v1, as before; every other failure is final, never retried otherwise.
   */
  async authorizeBearer(bearer: string, meta: RequestMeta, request: CallRequest): Promise<{ identity: Identity; answer: Decided | undefined }> {
    let reply: BearerAuthorizeReply;
    try {
      reply = await this.bus.request(Subjects.policyAuthorizeBearer, { bearer, ...this.authorizeRequest(meta, request) }, BearerAuthorizeReply, { timeoutMs: AUTHORIZE_TIMEOUT_MS });
    } catch (error) {
      if (!isNoResponders(error)) throw error;
      return { identity: await this.authenticator.identityOf(bearer), answer: undefined };
    }
    return { identity: reply.identity, answer: 'decision' in reply ? { decision: reply.decision } : { error: RungateError.from(reply.refusal) } };
  }

  /** One page of the caller's tools; `nextCursor` when more follow (MCP tools/list pagination). */
  async list(identity: Identity, cursor?: string): Promise<{ tools: ToolDefinition[]; nextCursor?: string }> {
    return this.bus.request(Subjects.policyTools, { identity, ...(cursor === undefined ? {} : { cursor }) }, ToolsReply, { timeoutMs: 10_000 });
  }

  /**
   * Domain failures come back as `isError` results carrying their code in `structuredContent`;
   * a code MCP answers as a protocol error (ERROR_EDGES: UNKNOWN_TOOL, BAD_REQUEST) is thrown
   * as a RungateError, and a call its caller cancelled (`signal`) throws CallCancelled. The whole call,
   * authorization and run, ends within `gateway.callTimeout`: then the run is stopped and the
   * answer is a TIMEOUT result. A call held for approval whose client asked for progress
   * (`progress`) waits up to `gateway.heldCallWait` for the run's decision (awaitDecision).
   */
  async call(
    identity: Identity,
    meta: RequestMeta,
    tool: string,
    args: Record<string, unknown>,
    /** As the caller sent it, any JSON value: policy validates it and records a bad one. */
    idempotencyKey: unknown,
    signal: AbortSignal,
    session?: string,
    /** Task-augmented (MCP tasks): policy refuses it for a tool that is never held (ADR 18 §8). */
    task = false,
    progress?: ProgressSink,
    early?: EarlyAuthorization,
  ): Promise<ToolCallResult> {
    const startedAt = early?.startedAt ?? performance.now();
    const limit = new CallLimit(signal, this.config.current.gateway.callTimeout, performance.now() - startedAt);
    let outcome = 'unknown_tool';
    try {
      const answer = await this.callOnce({ identity, meta, tool, idempotencyKey, session, task, progress, decided: early?.decided }, args, limit);
      outcome = outcomeLabel(answer);
      return toolResult(tool, answer);
    } catch (error) {
      if (error instanceof CallCancelled) outcome = 'cancelled';
      throw error;
    } finally {
      limit.dispose();
      Metrics.toolCalls.inc({ outcome });
      const seconds = (performance.now() - startedAt) / 1000;
      Metrics.toolCallSeconds.observe(seconds);
      // One line per call; the log context adds its trace id and, once policy decided, its run id.
      this.log.log(`tools/call ${tool} by ${identity.user}${identity.agent ? ` via ${identity.agent}` : ''}: ${outcome} in ${(seconds * 1000).toFixed(1)} ms`);
    }
  }

  private async callOnce(call: CallContext, args: Record<string, unknown>, limit: CallLimit): Promise<CallAnswer> {
    const { identity, meta, tool } = call;
    // Cancelled before it began (the cancellation overtook the call): policy is not even asked.
    if (limit.reason && !call.decided) return stoppedBeforeRun(limit.reason, limit);
    // No tool has such a name, and policy would refuse the request itself: answered as any unknown tool.
    if (tool.length > MAX_TOOL_NAME) {
      const reason = `a tool name of ${tool.length} characters; no tool's is longer than ${MAX_TOOL_NAME}`;
      await this.attempts.record({ actor: actorOf(identity, meta), code: 'unknown-tool', reason, answered: 'UNKNOWN_TOOL', tool });
      return { error: new RungateError('UNKNOWN_TOOL', 'unknown tool') };
    }
    const authorizing: Promise<Decided> = call.decided
      ? Promise.resolve(call.decided)
      : this.bus
          .request(Subjects.policyAuthorize, { identity, ...this.authorizeRequest(meta, { ...call, args }) }, AuthorizeReply, { timeoutMs: AUTHORIZE_TIMEOUT_MS })
          .then(
            (decision) => ({ decision }),
            (error: unknown) => ({ error }),
          );
    // Stopped while policy decided (ADR 24: the decision may have come with the identity): stopped it stays.
    const first = limit.reason ? { reason: limit.reason } : await Promise.race([authorizing, limit.stopped.then((reason) => ({ reason }))]);
    if ('reason' in first) {
      // Policy may still allow the run: it is then recorded as stopped before it was sent.
      void authorizing.then((settled) =>
        // A held run waits for its approvers whatever its caller does; only an allowed one was not sent.
        'error' in settled ? this.recordUnanswered(call, settled.error) : settled.decision.effect === 'allow' ? this.auditNotSent(call, settled.decision, first.reason, limit) : undefined,
      );
      return stoppedBeforeRun(first.reason, limit);
    }
    if ('error' in first) {
      await this.recordUnanswered(call, first.error);
      return { error: coded(first.error) };
    }
    const decision = first.decision;
    if (decision.effect === 'answered') return { answered: decision };
    setRunId(decision.runId);
    if (decision.effect === 'approval_required') {
      const waitMs = this.config.current.gateway.heldCallWait;
      // The issue ties holding the call to the client asking for progress: without a token, answered at once.
      if (!call.progress || waitMs === 0 || hasEnded(decision.state)) return { held: decision };
      return this.awaitDecision(call, decision, limit, waitMs, call.progress);
    }
    return this.execute(call, decision, limit);
  }

  /** What authorize.v1 and v2 ask beside who: values too deep to cross the bus go on empty, for policy to refuse on the record. */
  private authorizeRequest(meta: RequestMeta, request: CallRequest) {
    const { tool, args, idempotencyKey, session, task } = request;
    return { tool, arguments: forwardableArguments(args), idempotencyKey: forwardable(idempotencyKey), meta, ...(session === undefined ? {} : { session }), ...(task ? { task: true as const } : {}) };
  }

  /**
   * Keeps a held call open up to `waitMs` (ADR 18 §9): every HELD_POLL_MS it reads the run from
   * policy as its requester (`get` on rungate.policy.approvals.v1: any replica, both modes, no
   * audit record), sends a progress notification when the approvals or the state changed (and
   * at least every HELD_KEEPALIVE_MS), and answers the run's own result once it ran, its error
   * once it failed, RUN_NOT_APPROVED once rejected or expired. Otherwise the wait (or
   * gateway.callTimeout) runs out and the call answers approval_required with the run's state
   * then. A cancelled call stops waiting and throws CallCancelled; its run stays pending.
   */
  private async awaitDecision(call: CallContext, held: HeldReply, limit: CallLimit, waitMs: number, progress: ProgressSink): Promise<CallAnswer> {
    const until = performance.now() + waitMs;
    const counter = new ProgressCounter(quorumSize(held.approvers));
    let state = held.state;
    let key = '';
    let sentAt = 0;
    const notify = async (done: number, message: string) => {
      const value = counter.next(done);
      sentAt = performance.now();
      if (value === undefined) return;
      // A client gone cannot be told; its connection closing cancels the call (limit.stopped).
      await progress({ progress: value, total: counter.total, message }).catch(() => undefined);
    };
    await notify(0, progressMessage(call.tool, held.runId, held.approvers));
    for (;;) {
      const left = until - performance.now();
      if (left <= 0 || limit.reason) break;
      await Promise.race([new Promise((resolve) => setTimeout(resolve, Math.min(HELD_POLL_MS, left)).unref()), limit.stopped]);
      if (limit.reason) break;
      const run = await this.heldRun(call, held.runId, limit);
      if (run === 'retry') continue;
      if (run === 'refused') break;
      state = run.state;
      const ended = endedAnswer(run);
      if (ended) return ended;
      if (hasEnded(run.state)) break;
      if (progressKey(run) !== key || performance.now() - sentAt >= HELD_KEEPALIVE_MS) {
        key = progressKey(run);
        await notify(progressOf(run, counter.total), progressMessage(call.tool, held.runId, held.approvers, run));
      }
    }
    if (limit.reason === 'cancelled') throw new CallCancelled();
    return { held: { ...held, state } };
  }

  /**
   * The held run as its requester sees it; `retry` when policy did not answer this time (the
   * next poll asks again), `refused` when it refused the read (on its record: never asked again).
   */
  private async heldRun(call: CallContext, runId: string, limit: CallLimit): Promise<ApprovalRun | 'retry' | 'refused'> {
    const asking = this.bus.request(Subjects.policyApprovals, { action: 'get', identity: call.identity, meta: call.meta, runId }, ApprovalsReply, { timeoutMs: HELD_POLL_TIMEOUT_MS });
    const reply = await Promise.race([asking.catch((error: unknown) => ({ error })), limit.stopped.then(() => undefined)]);
    if (!reply) return 'retry';
    if ('error' in reply) {
      const { error } = reply;
      this.log.warn(`run ${runId}: could not read the held run (${error instanceof Error ? error.message : String(error)})`);
      // The one refusal of a requester's read (recorded by policy): the run is not theirs, or gone. Anything else may pass.
      return error instanceof RungateError && error.code === 'UNKNOWN_RUN' ? 'refused' : 'retry';
    }
    return reply.runs[0] ?? 'refused';
  }

  /**
   * Sends the run to an executor and waits for its report. If the call is cancelled or runs
   * out of time meanwhile, every executor of the type is told to stop the run (the one running
   * it does; a replica it has not reached yet refuses it when it comes), and the gateway waits
   * a grace period for the executor's report of how it ended.
   */
  private async execute(call: CallContext, decision: AllowReply, limit: CallLimit): Promise<CallAnswer> {
    const sentAt = performance.now();
    const executing = this.bus.request(
      execSubject(decision.connection.type),
      { ticket: decision.ticket, body: decision.body },
      ExecResult,
      { timeoutMs: decision.timeoutMs + EXEC_REPORT_GRACE_MS, heartbeatMs: EXEC_HEARTBEAT_MS },
    );
    let settled = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const gaveUp = limit.stopped.then(
      (reason) =>
        new Promise<{ gaveUp: StopReason }>((resolve) => {
          if (settled) return;
          this.stopRun(decision, reason, limit);
          graceTimer = setTimeout(() => resolve({ gaveUp: reason }), EXEC_REPORT_GRACE_MS);
        }),
    );
    let answer: { result: ExecResult } | { error: unknown } | { gaveUp: StopReason };
    try {
      answer = await Promise.race([
        executing.then(
          (result) => ({ result }),
          (error: unknown) => ({ error }),
        ),
        gaveUp,
      ]);
    } finally {
      settled = true;
      clearTimeout(graceTimer);
    }
    if ('result' in answer) {
      // A run that finished as it was cancelled still ran (the audit says so); the caller asked for no answer.
      if (limit.reason === 'cancelled') throw new CallCancelled();
      return { report: answer.result };
    }
    const waitedMs = performance.now() - sentAt;
    if ('gaveUp' in answer) {
      const unknown = new RungateError(
        'OUTCOME_UNKNOWN',
        `run ${decision.runId} was told to stop (${answer.gaveUp === 'cancelled' ? 'its caller cancelled the call' : `its call exceeded gateway.callTimeout of ${limit.timeoutMs} ms`}), but its ${decision.connection.type} executor did not report how it ended within ${EXEC_REPORT_GRACE_MS} ms; its outcome is unknown — check the audit log before retrying.`,
      );
      this.log.warn(`run ${decision.runId}: outcome unknown (no report ${EXEC_REPORT_GRACE_MS} ms after it was told to stop)`);
      await this.auditUnknown(call, decision, unknown, waitedMs);
      if (limit.reason === 'cancelled') throw new CallCancelled();
      return { error: unknown };
    }
    const { error } = answer;
    // Only when the bus itself failed is the outcome unknown; a typed error is the executor's own report.
    if (isTransportError(error)) {
      const idempotent = typeof call.idempotencyKey === 'string' ? ' A retry with the same idempotency key will not run it again.' : '';
      this.log.warn(`run ${decision.runId}: outcome unknown (${error.message})`);
      const unknown = new RungateError(
        'OUTCOME_UNKNOWN',
        `the ${decision.connection.type} executor did not report run ${decision.runId} (${error.message}); its outcome is unknown — check the audit log before retrying.${idempotent}`,
      );
      await this.auditUnknown(call, decision, unknown, waitedMs);
      if (limit.reason === 'cancelled') throw new CallCancelled();
      return { error: unknown };
    }
    if (limit.reason === 'cancelled') throw new CallCancelled();
    return { error: coded(error) };
  }

  /**
   * Policy records every refusal it answers, and marks its answer so. What it did not — it
   * could not be reached, refused the request itself, or something failed between — the
   * gateway records, so each attempt is on the record exactly once.
   */
  private async recordUnanswered(call: CallContext, error: unknown): Promise<void> {
    if (error instanceof RungateError && error.details?.['attemptRecorded'] === true) return;
    const code: AttemptCode = isTransportError(error) ? 'policy-unavailable' : error instanceof RungateError ? attemptCodeOf(error.code) : 'internal';
    const reason = error instanceof Error ? error.message : String(error);
    const answered = error instanceof RungateError ? error.code : 'INTERNAL';
    await this.attempts.record({ actor: actorOf(call.identity, call.meta), code, reason: `authorization failed: ${reason}`, answered, tool: call.tool });
  }

  /** Tells every executor of the run's type to stop it; only the one running it (or about to) acts. */
  private stopRun(decision: AllowReply, reason: StopReason, limit: CallLimit): void {
    const stop: ExecCancel = { runId: decision.runId, reason, ...(reason === 'call_timeout' ? { callTimeoutMs: limit.timeoutMs } : {}) };
    this.log.log(`run ${decision.runId}: telling the ${decision.connection.type} executors to stop it (${reason === 'cancelled' ? 'cancelled by its caller' : 'gateway.callTimeout ran out'})`);
    try {
      this.bus.emit(execCancelSubject(decision.connection.type), stop);
    } catch (error) {
      this.log.error(`run ${decision.runId}: could not ask the executors to stop it: ${(error as Error).message}`);
    }
  }

  /**
   * A run policy allowed after its call had already been cancelled or run out of time: it was
   * never sent to an executor, and its ticket expires unused. The audit trail says so.
   */
  private async auditNotSent(call: CallContext, decision: AllowReply, reason: StopReason, limit: CallLimit): Promise<void> {
    const error = stoppedBeforeRunError(reason, limit, `run ${decision.runId}`);
    await this.publish(call, decision, { status: reason === 'cancelled' ? 'cancelled' : 'timed_out', exitCode: null, errorCode: error.code, error: error.message });
  }

  /**
   * The executor may have died mid-run and can no longer say so: the gateway records that the
   * outcome is unknown. Best effort — the agent's answer does not wait on a failing stream.
   */
  private async auditUnknown(call: CallContext, decision: AllowReply, error: RungateError, waitedMs: number): Promise<void> {
    await this.publish(call, decision, { status: 'unknown', exitCode: null, durationMs: Math.round(waitedMs), errorCode: error.code, error: error.message });
  }

  private async publish(call: CallContext, decision: AllowReply, outcome: AuditOutcome): Promise<void> {
    const { identity, meta, tool } = call;
    try {
      await this.audit.publish({
        type: RunEventTypes.failed,
        source: 'gateway',
        runId: decision.runId,
        tool,
        actor: actorOf(identity, meta),
        connection: decision.connection,
        outcome,
      });
    } catch (caught) {
      this.log.error(`run ${decision.runId}: could not audit how it ended (${outcome.status}): ${(caught as Error).message}`);
    }
  }
}

interface CallContext {
  identity: Identity;
  meta: RequestMeta;
  tool: string;
  idempotencyKey: unknown;
  /** The MCP session id the client sent back: it groups explorations into sessions (ADR 19). */
  session?: string;
  task: boolean;
  /** Set when the client asked for progress (`_meta.progressToken`): a held call may then wait for its decision. */
  progress?: ProgressSink;
  /** Policy's answer, when it came with the identity (authorize.v2, ADR 24). */
  decided?: Decided;
}

function stoppedBeforeRunError(reason: StopReason, limit: CallLimit, subject: string): RungateError {
  if (reason === 'cancelled') return new RungateError('CANCELLED', `${subject} was cancelled by its caller before it was sent to an executor; nothing was executed`);
  return new RungateError(
    'TIMEOUT',
    `${subject} exceeded the gateway's time limit of ${limit.timeoutMs} ms (gateway.callTimeout) before it reached an executor; nothing was executed`,
  );
}

function stoppedBeforeRun(reason: StopReason, limit: CallLimit): CallAnswer {
  if (reason === 'cancelled') throw new CallCancelled();
  return { error: stoppedBeforeRunError(reason, limit, 'the call') };
}

/**
 * A value nested deeper than MAX_FORWARDED_JSON_DEPTH cannot cross the bus (JSON.stringify
 * overflows the stack a few thousand levels down, and the call would fail with no record).
 * No parameter, key or connection is anything but a scalar, so such a value is invalid
 * whatever it holds: it goes on as an empty list or object, and policy refuses it with the
 * caller, the tool and a run id on the record.
 */
function forwardable(value: unknown): unknown {
  if (jsonDepth(value, MAX_FORWARDED_JSON_DEPTH) <= MAX_FORWARDED_JSON_DEPTH) return value;
  return Array.isArray(value) ? [] : {};
}

function forwardableArguments(args: Record<string, unknown>): Record<string, unknown> {
  if (jsonDepth(args, MAX_FORWARDED_JSON_DEPTH) <= MAX_FORWARDED_JSON_DEPTH) return args;
  return Object.fromEntries(Object.entries(args).map(([name, value]) => [name, forwardable(value)]));
}

/** The `outcome` label of `rungate_tool_calls_total`: ok, failed (the run failed), or the error code. */
function outcomeLabel(answer: CallAnswer): string {
  if ('held' in answer) return 'approval_required';
  if ('answered' in answer) return 'ok';
  if ('report' in answer) return answer.report.status === 'failed' ? 'failed' : 'ok';
  return answer.error.code.toLowerCase();
}

/** Anything but a RungateError is a bug, and the agent is told no more than that. */
function coded(error: unknown): RungateError {
  return error instanceof RungateError ? error : new RungateError('INTERNAL', 'internal error');
}

/** The MCP answer: the report beside its text, or the error's code and message (ERROR_EDGES says which errors are results). */
function toolResult(tool: string, answer: CallAnswer): ToolCallResult {
  if ('held' in answer) {
    const { runId, approvers, expiresAt, state, windows, startsAt } = answer.held;
    const result: ApprovalRequiredResult = { status: 'approval_required', runId, approvers, expiresAt, ...(state === 'pending' ? {} : { state }), ...(windows ? { windows } : {}), ...(startsAt ? { startsAt } : {}) };
    return { isError: false, content: [{ type: 'text', text: renderHeld(tool, result) }], structuredContent: result };
  }
  if ('answered' in answer) return { isError: false, content: [{ type: 'text', text: answer.answered.text }], structuredContent: answer.answered.structuredContent };
  if ('report' in answer) return reportResult(tool, answer.report);
  const { code, message } = answer.error;
  if (ERROR_EDGES[code].mcp !== 'result') throw code === 'UNKNOWN_TOOL' ? new RungateError(code, `Unknown tool: ${tool}`) : answer.error;
  return errorResult(code, message);
}
