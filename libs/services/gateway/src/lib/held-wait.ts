import { ErrorCode, ExecResult, RungateError, type ApprovalRun, type ApprovalState, type HeldApprovers } from '@rungate/contracts';
import { describeApprovers } from './render';

/**
 * A held call its client waits on (`gateway.heldCallWait`, ADR 18 §9): how often the gateway
 * asks policy where the run is — one read of one row, by the requester — and how long at most
 * between two progress notifications while nothing changes, so the client (and any proxy
 * between) sees the call is alive.
 */
export const HELD_POLL_MS = 1000;
export const HELD_KEEPALIVE_MS = 15_000;
/** One poll's answer from policy; a slower one is skipped and the next poll asks again. */
export const HELD_POLL_TIMEOUT_MS = 5000;

/** One `notifications/progress` for the call's progress token. */
export interface HeldProgress {
  progress: number;
  total: number;
  message: string;
}

/** Sends a progress notification on the call's own response stream (the POST's event stream). */
export type ProgressSink = (progress: HeldProgress) => Promise<void>;

/** States a held run never leaves: a wait ends at them. */
const ENDED: ReadonlySet<ApprovalState> = new Set(['executed', 'failed', 'rejected', 'expired']);

export function hasEnded(state: ApprovalState): boolean {
  return ENDED.has(state);
}

/** The quorum as a number of approvals: with allGroups, never fewer than one of each group. */
export function quorumSize(approvers: HeldApprovers): number {
  return approvers.allGroups ? Math.max(approvers.count, approvers.groups.length) : approvers.count;
}

/**
 * MCP requires a progress value to increase with each notification. The whole part counts
 * approvals (the whole quorum once the run is approved: a break-glass approval completes it
 * alone); a notification that adds none — a keepalive, or the run moving from approved to
 * executing — adds a fraction that never reaches the next whole number (n/(n+1) for the
 * n-th), and none is sent once progress is at `total` with nothing to add.
 */
export class ProgressCounter {
  private whole = -1;
  private steps = 0;

  constructor(readonly total: number) {}

  next(done: number): number | undefined {
    const whole = Math.min(done, this.total);
    if (whole > this.whole) {
      this.whole = whole;
      this.steps = 0;
      return whole;
    }
    if (this.whole >= this.total) return undefined;
    this.steps += 1;
    return this.whole + this.steps / (this.steps + 1);
  }
}

function approvalsOf(run: ApprovalRun): number {
  return run.decisions.filter((d) => d.verdict === 'approved').length;
}

/** Approvals done as progress counts them: all of the quorum once approved, one short of it while pending. */
export function progressOf(run: ApprovalRun, total: number): number {
  return run.state === 'pending' ? Math.min(approvalsOf(run), total - 1) : total;
}

/** What a progress notification says: who must still approve, or what the run is doing now. */
export function progressMessage(tool: string, runId: string, approvers: HeldApprovers, run?: ApprovalRun): string {
  const total = quorumSize(approvers);
  switch (run?.state ?? 'pending') {
    case 'pending': {
      const approved = run ? approvalsOf(run) : 0;
      return `${tool} — run ${runId} waits for approval (${approved} of ${total} so far): it needs ${describeApprovers(approvers)}; nothing has run yet. An approver approves it with: rungate approve ${runId}`;
    }
    case 'approved':
      return `${tool} — run ${runId} is approved and about to run`;
    default:
      return `${tool} — run ${runId} is approved and running`;
  }
}

/** The key of what a notification reports: a new one is sent when it changes. */
export function progressKey(run: ApprovalRun): string {
  return `${run.state}:${approvalsOf(run)}`;
}

/**
 * How a run that ended answers the call that waited on it, as the tool would have answered had
 * it not been held: the executor's report (its masked result, isError when it failed), the
 * error a failed run ended with, or RUN_NOT_APPROVED for a rejected or expired one. Undefined
 * while it has not ended, or when its stored result cannot be read back as a report (the call
 * then answers approval_required with the run's state, and rungate_run_status shows it).
 */
export function endedAnswer(run: ApprovalRun): { report: ExecResult } | { error: RungateError } | undefined {
  const { outcome } = run;
  switch (run.state) {
    case 'executed': {
      const { runId, durationMs, dryRun, ...output } = outcome?.result ?? {};
      const report = ExecResult.safeParse({ runId, status: outcome?.status, durationMs, dryRun, output });
      return report.success ? { report: report.data } : undefined;
    }
    case 'failed': {
      const code = ErrorCode.safeParse(outcome?.errorCode);
      return { error: new RungateError(code.success ? code.data : 'INTERNAL', outcome?.error ?? `run ${run.runId} failed; nothing more is known`, { runId: run.runId }) };
    }
    case 'rejected': {
      const rejection = run.decisions.find((d) => d.verdict === 'rejected');
      const why = rejection?.comment ? `: ${rejection.comment}` : '';
      return { error: new RungateError('RUN_NOT_APPROVED', `run ${run.runId} was rejected${why}; nothing was executed`, { runId: run.runId, state: 'rejected' }) };
    }
    case 'expired':
      return {
        error: new RungateError('RUN_NOT_APPROVED', `run ${run.runId} expired at ${run.expiresAt} before it was approved (${approvalsOf(run)} of ${run.approval.count} approvals); nothing was executed`, {
          runId: run.runId,
          state: 'expired',
        }),
      };
    default:
      return undefined;
  }
}
