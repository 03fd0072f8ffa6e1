import { z } from 'zod';
import { ConnectionType } from './catalog';
import { GuardrailRecord } from './guardrails';

export const AuditEventType = z
  .string()
  .regex(/^audit\.(run|admin|catalog)\.[a-z][a-z_.]*$/, 'audit event types are audit.run.*, audit.admin.* or audit.catalog.*');

export const RunEventTypes = {
  received: 'audit.run.received',
  decided: 'audit.run.decided',
  approved: 'audit.run.approved',
  rejected: 'audit.run.rejected',
  started: 'audit.run.started',
  completed: 'audit.run.completed',
  failed: 'audit.run.failed',
} as const;

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

/** One schema for every event on the AUDIT stream (DESIGN.md §7). */
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
export type AuditEventInput = Omit<AuditEvent, 'v' | 'id' | 'time'> & Partial<Pick<AuditEvent, 'id' | 'time'>>;
