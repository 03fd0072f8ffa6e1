import { z } from 'zod';
import { Identity, RequestMeta } from './identity';
import { ChangeWindow } from './change-window';
import { ApprovalState, ConnectionRef, HeldApprovers } from './tools';

/**
 * Held runs (ADR 18): a call a rule's `approval:` or a require_approval guardrail holds is
 * stored, with exactly what would run, until a quorum of humans approves it, one rejects it or
 * its ttl runs out. These are the shapes on `rungate.policy.approvals.v1`, and the JSON of the
 * gateway's `/v1/runs` API (the CLI and the web console are its clients).
 */

const MAX_COMMENT_CHARS = 1000;

export const RunId = z.string().min(1).max(64);

export const ApprovalsRequest = z.discriminatedUnion('action', [
  /** The pending runs this identity may approve (in an approver group, not its own), oldest first. */
  z.object({ action: z.literal('list'), identity: Identity, meta: RequestMeta.default({}) }),
  /** One run, for its requester or one of its approvers; anyone else is answered UNKNOWN_RUN. */
  z.object({ action: z.literal('get'), identity: Identity, meta: RequestMeta.default({}), runId: RunId }),
  z.object({ action: z.literal('approve'), identity: Identity, meta: RequestMeta.default({}), runId: RunId, comment: z.string().max(MAX_COMMENT_CHARS).optional() }),
  z.object({ action: z.literal('reject'), identity: Identity, meta: RequestMeta.default({}), runId: RunId, reason: z.string().min(1).max(MAX_COMMENT_CHARS) }),
]);
export type ApprovalsRequest = z.infer<typeof ApprovalsRequest>;

export const ApprovalDecision = z.object({
  actor: z.object({ user: z.string(), agent: z.string().optional() }),
  verdict: z.enum(['approved', 'rejected']),
  comment: z.string().optional(),
  at: z.string(),
  /** The approver's groups among the run's approver and break-glass groups, as they were when deciding: allGroups is evaluated from these. */
  groups: z.array(z.string()).optional(),
  /** An approval by a break-glass group, which approved the run alone (ADR 18 §1). */
  breakGlass: z.boolean().optional(),
});
export type ApprovalDecision = z.infer<typeof ApprovalDecision>;

/** Why the run waits: a rule's `approval:` or a require_approval guardrail (with its message). */
export const ApprovalHoldView = z.object({ by: z.enum(['rule', 'guardrail']), name: z.string(), reason: z.string().optional() });

/** One held run as its requester and its approvers see it (ADR 18 §4). */
export const ApprovalRun = z.object({
  runId: z.string(),
  state: ApprovalState,
  tool: z.string(),
  rule: z.string(),
  runbook: z.object({ repository: z.string(), path: z.string(), commit: z.string(), sha256: z.string() }),
  connection: ConnectionRef,
  /** The rendered body exactly as it will run, and its SHA-256 (the executor checks the ticket's). */
  body: z.string(),
  bodySha256: z.string(),
  /** The validated parameters, password-typed ones redacted. */
  params: z.record(z.string(), z.string()),
  requester: z.object({ user: z.string(), agent: z.string().optional() }),
  approval: z.object({
    groups: z.array(z.string()),
    count: z.number().int().positive(),
    approved: z.number().int().nonnegative(),
    allGroups: z.boolean().optional(),
    breakGlassGroups: z.array(z.string()).optional(),
  }),
  /** The change windows an approved run may start in, all open at once (ADR 18 §1). */
  windows: z.array(ChangeWindow).optional(),
  holds: z.array(ApprovalHoldView),
  decisions: z.array(ApprovalDecision),
  createdAt: z.string(),
  expiresAt: z.string(),
  /** Approved with windows: the slot it may start in (the next opening, on the database's clock) and when that closes. */
  startsAt: z.string().optional(),
  windowEndsAt: z.string().optional(),
  /** Once the run ended: how (the executor's status, or why it failed before executing) and its masked result. */
  outcome: z
    .object({
      status: z.enum(['succeeded', 'failed']),
      errorCode: z.string().optional(),
      error: z.string().optional(),
      result: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
});
export type ApprovalRun = z.infer<typeof ApprovalRun>;

/** `list` answers every run it may show; `get`, `approve` and `reject` answer the one run, after the action. */
export const ApprovalsReply = z.object({ runs: z.array(ApprovalRun) });
export type ApprovalsReply = z.infer<typeof ApprovalsReply>;

/**
 * What an agent's `tools/call` of a held tool answers (`structuredContent`, `isError: false`):
 * nothing ran yet; `rungate_run_status {runId}` follows it.
 */
export const ApprovalRequiredResult = z.object({
  status: z.literal('approval_required'),
  runId: z.string(),
  approvers: HeldApprovers,
  expiresAt: z.string(),
  /** `pending`, unless the same call (its idempotency key) came again after the run moved on. */
  state: ApprovalState.optional(),
  /** The change windows the approved run may start in (ADR 18 §1): it waits for the next opening. */
  windows: z.array(ChangeWindow).optional(),
  /** Once approved with windows: when it may start. */
  startsAt: z.string().optional(),
});
export type ApprovalRequiredResult = z.infer<typeof ApprovalRequiredResult>;

/** The built-in tool an agent follows its held run with (read-only, the requester's runs only). */
export const RUN_STATUS_TOOL = 'rungate_run_status';

export const RunStatusArguments = z.strictObject({ runId: RunId });

/**
 * `rungate_run_status {runId}`'s `structuredContent`: where the held run is, the decisions
 * (verdict and time; who decided is for approvers), and once it ran its result as the executor
 * masked it, or why it failed.
 */
export const RunStatusResult = z.object({
  runId: z.string(),
  state: ApprovalState,
  expiresAt: z.string(),
  /** Approved with change windows: when it may start (its next opening) and when that slot closes. */
  startsAt: z.string().optional(),
  windowEndsAt: z.string().optional(),
  decisions: z.array(z.object({ verdict: z.enum(['approved', 'rejected']), at: z.string() })),
  result: z.record(z.string(), z.unknown()).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type RunStatusResult = z.infer<typeof RunStatusResult>;
