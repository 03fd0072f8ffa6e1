import { z } from 'zod';
import { ConnectionType } from './catalog';
import type { ErrorCode } from './errors';
import { GuardrailRecord } from './guardrails';

export const AuditEventType = z
  .string()
  .regex(/^audit\.(run|admin|catalog|attempt)\.[a-z][a-z_.]*$/, 'audit event types are audit.run.*, audit.attempt.*, audit.admin.* or audit.catalog.*');

export const RunEventTypes = {
  received: 'audit.run.received',
  decided: 'audit.run.decided',
  /** One approver's yes (ADR 18 §6); the run executes once the quorum's last one is recorded. */
  approved: 'audit.run.approved',
  rejected: 'audit.run.rejected',
  /** A held run whose approval ttl ran out before its quorum: it never executes. */
  expired: 'audit.run.expired',
  /** A pending run its requester withdrew (MCP tasks/cancel): it never executes. */
  withdrawn: 'audit.run.withdrawn',
  started: 'audit.run.started',
  completed: 'audit.run.completed',
  failed: 'audit.run.failed',
} as const;

/**
 * Attempts that ran nothing (docs/siem.md): one `denied` event per attempt, or, past the
 * per-token limit of a window, one `suppressed` event per window counting the rest.
 */
export const AttemptEventTypes = {
  denied: 'audit.attempt.denied',
  suppressed: 'audit.attempt.suppressed',
} as const;

/**
 * Why an attempt ran nothing: `outcome.errorCode` of `audit.attempt.denied`. The caller's
 * answer can be vaguer (a hidden tool answers exactly like an unknown one); this is the truth,
 * for the audit trail only.
 */
export const AttemptCode = z.enum([
  /** No bearer token, a malformed Authorization header, an unknown, revoked or expired token, an invalid JWT. */
  'unauthenticated',
  /** Refused with 429 before its token was looked at: its source sent too many failing tokens (counted only). */
  'auth-rate-limited',
  /** JSON-RPC the gateway refused itself (-32600, -32602, -32700), or a body it could not read. */
  'malformed-request',
  /** A body over gateway.maxBodyBytes (413). */
  'request-too-large',
  /** No such tool in the catalog. */
  'unknown-tool',
  /** The tool exists, but the caller may not run it anywhere: answered exactly as an unknown tool. */
  'hidden-tool',
  /** The caller named a connection it may not run the tool on (or one that does not exist). */
  'forbidden-connection',
  /** The token's own runbooks/connections scope excludes the call. */
  'token-scope',
  /** No rule allows the call. */
  'no-rule',
  /** Rules allow the tool, but not with these parameter values. */
  'params',
  /** A parameter failed its declaration (or the connection argument was not usable). */
  'invalid-params',
  /** Parameters over the size limit (PARAMS_TOO_LARGE, ADR 13). */
  'params-too-large',
  /** dryRun asked of a runbook that cannot do one, or not true/false. */
  'dry-run-refused',
  /** An idempotency key that is not 1–255 visible ASCII characters. */
  'invalid-idempotency-key',
  /** An idempotency key used before for another call (IDEMPOTENCY_CONFLICT). */
  'idempotency-conflict',
  /** An input guardrail denied the rendered call (GUARDRAIL_BLOCKED). */
  'guardrail',
  /** A rule or guardrail requires an approval, and the run could not be held for one. */
  'approval',
  /** An approve or reject that was refused: not an approver, the requester, an agent token, a run not pending or unknown (ADR 18 §3). */
  'approval-refused',
  /** A task-augmented call (MCP tasks) of a tool that is never held for this caller (TASK_NOT_SUPPORTED). */
  'task-not-supported',
  /** A token that may not read the audit trail (no audit:read scope, or not an auditor) asked to. */
  'audit-read-refused',
  /** A request about agent tokens from the web console that was refused (someone else's token, a scope its maker lacks, a narrowed maker). */
  'token-refused',
  /** The catalog could not load the runbook. */
  'catalog-unavailable',
  /** Policy could not be reached (or did not answer in time) to authenticate or authorize. */
  'policy-unavailable',
  /** The decision could not be put on the record, so the call was refused (a record of the refusal may not be stored either). */
  'audit-unavailable',
  /** Anything else: a bug, answered INTERNAL. */
  'internal',
]);
export type AttemptCode = z.infer<typeof AttemptCode>;

/** The code of a refusal no one classified more precisely, from the error its caller got. */
export function attemptCodeOf(code: ErrorCode): AttemptCode {
  switch (code) {
    case 'UNAUTHENTICATED':
      return 'unauthenticated';
    case 'UNKNOWN_TOOL':
      return 'unknown-tool';
    case 'INVALID_PARAMS':
      return 'invalid-params';
    case 'BAD_REQUEST':
      return 'malformed-request';
    case 'CATALOG_UNAVAILABLE':
      return 'catalog-unavailable';
    case 'AUDIT_UNAVAILABLE':
      return 'audit-unavailable';
    case 'GUARDRAIL_BLOCKED':
      return 'guardrail';
    case 'APPROVAL_REQUIRED':
    case 'RUN_NOT_APPROVED':
      return 'approval';
    case 'UNKNOWN_RUN':
    case 'RUN_NOT_PENDING':
    case 'NOT_AN_APPROVER':
    case 'SELF_APPROVAL':
    case 'AGENT_CANNOT_APPROVE':
      return 'approval-refused';
    case 'PARAMS_TOO_LARGE':
      return 'params-too-large';
    case 'IDEMPOTENCY_CONFLICT':
      return 'idempotency-conflict';
    case 'TASK_NOT_SUPPORTED':
      return 'task-not-supported';
    default:
      return 'internal';
  }
}

/** `actor.user` of an attempt whose bearer token resolved to nobody. */
export const ANONYMOUS_ACTOR = 'anonymous';

export const AuditActor = z.object({
  user: z.string(),
  groups: z.array(z.string()),
  agent: z.string().optional(),
  tokenId: z.string().optional(),
  ip: z.string().optional(),
  userAgent: z.string().optional(),
});

export const AuditOutcome = z.object({
  /** `cancelled`: its caller cancelled the call; `timed_out`: the runbook's @timeout or gateway.callTimeout ran out. */
  status: z.enum(['succeeded', 'failed', 'denied', 'unknown', 'refused', 'cancelled', 'timed_out']),
  exitCode: z.number().int().nullable().optional(),
  durationMs: z.number().optional(),
  rows: z.number().int().optional(),
  bytes: z.number().int().optional(),
  truncated: z.boolean().optional(),
  outputSha256: z.string().optional(),
  errorCode: z.string().optional(),
  error: z.string().optional(),
  dryRun: z.boolean().optional(),
  /** What the executor masked: the profile and a count per entity kind, never a value. */
  masking: z
    .object({ profile: z.string(), sha256: z.string(), counts: z.record(z.string(), z.number().int().nonnegative()) })
    .optional(),
});
export type AuditOutcome = z.infer<typeof AuditOutcome>;

/** One schema for every event on the AUDIT stream (docs/design.md §3). */
export const AuditEvent = z.object({
  v: z.literal(1),
  id: z.string().min(1),
  time: z.string(),
  type: AuditEventType,
  source: z.string(),
  runId: z.string().optional(),
  actor: AuditActor.optional(),
  runbook: z
    .object({ repository: z.string(), path: z.string(), commit: z.string(), sha256: z.string() })
    .optional(),
  tool: z.string().optional(),
  connection: z.object({ name: z.string(), type: ConnectionType }).optional(),
  params: z.record(z.string(), z.string()).optional(),
  decision: z
    .object({ effect: z.enum(['allow', 'deny', 'approval_required']), rule: z.string().optional(), reason: z.string().optional() })
    .optional(),
  outcome: AuditOutcome.optional(),
  /** Guardrails that matched this run (a denial names the one that denied it; warnings are recorded on an allowed run). */
  guardrails: z.array(GuardrailRecord).optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type AuditEvent = z.infer<typeof AuditEvent>;
export type AuditActor = z.infer<typeof AuditActor>;
export type AuditEventInput = Omit<AuditEvent, 'v' | 'id' | 'time'> & Partial<Pick<AuditEvent, 'id' | 'time'>>;
