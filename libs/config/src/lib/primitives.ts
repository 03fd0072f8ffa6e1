import { z } from 'zod';
import { InternalError } from '@rungate/contracts';

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


/** Who must approve a run before it executes (rules' and guardrails' `approval:`). */
export const ApprovalConfig = z.strictObject({
  groups: z.array(z.string()).min(1),
  count: z.number().int().positive().default(1),
  ttl: Duration.default(3_600_000),
});
export type ApprovalConfig = z.infer<typeof ApprovalConfig>;
