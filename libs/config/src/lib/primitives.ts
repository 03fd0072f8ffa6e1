import { z } from 'zod';
import { InternalError } from '@rungate/contracts';
import { ChangeWindowConfig } from './change-window';

/** `env:NAME` or `file:/path`: secrets are never written into rungate.yaml itself. */
export const SecretRef = z
  .string()
  .regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$/, 'must be a secret reference: env:NAME or file:/path (never a literal secret)');
export type SecretRef = z.infer<typeof SecretRef>;

export const Duration = z
  .union([z.number().int().positive(), z.string().regex(/^\d+(ms|s|m|h)$/, 'a duration such as 500ms, 10s, 5m or 1h')])
  .transform((v) => (typeof v === 'number' ? v : parseDuration(v)));

export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (!match) throw new InternalError(`not a duration: ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}


/** The longest an approval may be waited for: a run held longer is no longer the change anyone asked for. */
export const MAX_APPROVAL_TTL_MS = 7 * 24 * 3_600_000;
/** The shortest: less leaves an approver no time to read the body. */
export const MIN_APPROVAL_TTL_MS = 60_000;

/** A non-empty list of group names, each named once. */
const GroupList = z
  .array(z.string().min(1))
  .min(1)
  .refine((groups) => new Set(groups).size === groups.length, 'name each group once');

/** Who must approve a run before it executes (rules' and guardrails' `approval:`; ADR 18). */
export const ApprovalConfig = z
  .strictObject({
    groups: GroupList.describe('approvers are humans in any of these groups (never the requester, never an agent token)'),
    allGroups: z.boolean().optional().describe('true: the quorum needs one approver from each of groups, and still at least count approvers'),
    breakGlassGroups: GroupList.optional().describe('one human in any of these groups approves alone, whatever count and allGroups say; such an approval is marked breakGlass'),
    count: z.number().int().positive().max(10).default(1).describe('how many different approvers must say yes'),
    ttl: Duration.default(3_600_000).describe('how long the run waits for its approvals before it expires (1m to 168h)'),
    window: ChangeWindowConfig.optional().describe('the change window an approved run may start in; a quorum reached outside it waits for its next opening (ADR 18 §1)'),
  })
  .superRefine((approval, ctx) => {
    if (approval.ttl < MIN_APPROVAL_TTL_MS) ctx.addIssue({ code: 'custom', path: ['ttl'], message: 'at least 1m: approvers need time to read the body' });
    if (approval.ttl > MAX_APPROVAL_TTL_MS) ctx.addIssue({ code: 'custom', path: ['ttl'], message: 'at most 168h: a run held longer is not the change anyone asked for' });
  });
export type ApprovalConfig = z.infer<typeof ApprovalConfig>;
