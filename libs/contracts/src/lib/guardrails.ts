import { z } from 'zod';

export const GuardrailAction = z.enum(['deny', 'warn', 'require_approval']);
export type GuardrailAction = z.infer<typeof GuardrailAction>;

/**
 * Strict shapes: a ticket from a newer policy with a match form this executor does not know
 * fails verification (the run is refused) instead of parsing as a guardrail that checks nothing.
 */
const OutputGuardrailMatch = z.union([
  z.strictObject({ words: z.array(z.string().min(1)).min(1) }),
  z.strictObject({ pattern: z.string().min(1) }),
  z
    .strictObject({ maxRows: z.number().int().positive().optional(), maxBytes: z.number().int().positive().optional() })
    .refine((size) => size.maxRows !== undefined || size.maxBytes !== undefined, 'maxRows or maxBytes'),
]);

/** An output guardrail as a run ticket carries it: signed with the run, so no hop between policy and executor can drop it. */
export const OutputGuardrail = z.strictObject({
  name: z.string().min(1),
  action: z.enum(['deny', 'warn']),
  message: z.string().optional(),
  match: OutputGuardrailMatch,
});
export type OutputGuardrail = z.infer<typeof OutputGuardrail>;

/** What the audit trail says about a guardrail that matched: its name and its own message, never what it matched. */
export const GuardrailRecord = z.object({
  name: z.string(),
  on: z.enum(['input', 'output']),
  action: GuardrailAction,
  message: z.string(),
});
export type GuardrailRecord = z.infer<typeof GuardrailRecord>;
