import { RE2JS } from 're2js';
import { z } from 'zod';
import { SecretRef } from './primitives';

/**
 * `masking:` of rungate.yaml: named profiles that executors apply to every run's output
 * before it leaves the process (libs/masking). A connection or a rule selects one by name;
 * policy signs the selection into the run ticket.
 */

/** The detectors libs/masking implements; the list is the schema's so config can name them. */
export const BuiltInEntity = z.enum([
  'email',
  'credit_card',
  'iban',
  'phone',
  'us_ssn',
  'ip_address',
  'jwt',
  'aws_access_key',
  'private_key',
  'bearer_token',
]);
export type BuiltInEntity = z.infer<typeof BuiltInEntity>;

export const MaskingStrategy = z
  .enum(['redact', 'mask', 'partial', 'hash'])
  .describe('redact: [EMAIL]; mask: ****1234; partial: keeps what identifies the format (a***@example.com); hash: keyed HMAC token, equal values give equal tokens');
export type MaskingStrategy = z.infer<typeof MaskingStrategy>;

/** Selecting this on a rule switches a connection's profile off for that rule. */
export const NO_MASKING = 'none';

const profileName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'use lowercase letters, digits, "-" and "_", starting with a letter or digit')
  .refine((name) => name !== NO_MASKING, `"${NO_MASKING}" is reserved: it selects no masking`);

/** What a connection or a rule writes: a profile name (or, on a rule, none). */
export const MaskingSelection = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'a masking profile name from masking:, or none');

/** `masking:` on a connection: its runs' output is masked with this profile unless their rule selects another. */
export const ConnectionMasking = MaskingSelection.describe('masking profile (a name under masking:) for every run on this connection, unless the rule that allows the run names another');

const keep = z.number().int().min(0).max(8).describe('mask: characters shown at the end (default 4, never more than half the value)');

const EntityRule = z
  .union([MaskingStrategy, z.strictObject({ strategy: MaskingStrategy.default('redact'), keep: keep.optional() })])
  .transform((rule) => (typeof rule === 'string' ? { strategy: rule } : rule));
export type MaskingEntityRule = z.output<typeof EntityRule>;

const entityName = z
  .string()
  .regex(/^[a-z][a-z0-9_]*$/, 'lowercase letters, digits and "_", starting with a letter (the redaction label is its upper case: [EMPLOYEE_ID])')
  .refine((name) => !BuiltInEntity.options.includes(name as BuiltInEntity) && name !== 'column', 'a built-in entity\'s name (or column); configure it under entities:');

/** Custom patterns come from configuration, so they run on RE2 (linear time) and must compile now. */
const re2Pattern = z.string().min(1).superRefine((pattern, ctx) => {
  try {
    RE2JS.compile(pattern);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `not an RE2 pattern: ${(error as Error).message}` });
  }
});

const CustomEntity = z
  .strictObject({
    name: entityName.describe('the entity kind in reports; redacted as [NAME]'),
    pattern: re2Pattern.optional().describe('RE2 pattern; every match is a detection'),
    denyList: z.array(z.string().min(1)).min(1).optional().describe('words or phrases detected wherever they stand as whole words, ignoring case'),
    score: z.number().min(0).max(1).default(0.8).describe('score of every detection; detections below the profile\'s threshold are left alone'),
    strategy: MaskingStrategy.default('redact'),
    keep: keep.optional(),
  })
  .refine((entity) => entity.pattern !== undefined || entity.denyList !== undefined, { message: 'give a pattern, a denyList or both', path: ['pattern'] });
export type MaskingCustomEntity = z.output<typeof CustomEntity>;

/** `email`, `*.ssn`, `users.phone`, `public.users.phone`: `*` matches within one segment. */
const columnPattern = z
  .string()
  .regex(/^[^.\s]+(\.[^.\s]+){0,2}$/, 'column, table.column or schema.table.column; * matches within a part (e.g. *.ssn)');

const ColumnRule = z
  .union([columnPattern, z.strictObject({ match: columnPattern, strategy: MaskingStrategy.default('redact'), keep: keep.optional() })])
  .transform((rule) => (typeof rule === 'string' ? { match: rule, strategy: 'redact' as const } : rule));
export type MaskingColumnRule = z.output<typeof ColumnRule>;

export const MaskingProfileConfig = z
  .strictObject({
    name: profileName.describe('selected by connections[].masking and rules[].masking'),
    description: z.string().optional(),
    threshold: z.number().min(0).max(1).default(0.5).describe('detections scoring below it are left visible (scores: docs in libs/masking/README.md)'),
    entities: z.partialRecord(BuiltInEntity, EntityRule).default({}).describe('built-in detectors to run, each with its strategy'),
    custom: z.array(CustomEntity).default([]).describe('your own entities: {name, pattern (RE2), denyList, score, strategy}'),
    columns: z.array(ColumnRule).default([]).describe('SQL result columns masked whatever their content: "email", "*.ssn", "users.phone" or {match, strategy}'),
    hashKey: SecretRef.optional().describe('HMAC key of the hash strategy; resolved only by executors, never sent anywhere'),
  })
  .superRefine((profile, ctx) => {
    const seen = new Set<string>();
    profile.custom.forEach((entity, index) => {
      if (seen.has(entity.name)) ctx.addIssue({ code: 'custom', path: ['custom', index, 'name'], message: `duplicate entity "${entity.name}"` });
      seen.add(entity.name);
      if (entity.strategy === 'partial') {
        ctx.addIssue({ code: 'custom', path: ['custom', index, 'strategy'], message: 'partial keeps what identifies a known format; a custom entity has none — use mask or redact' });
      }
    });
    profile.columns.forEach((rule, index) => {
      if (rule.strategy === 'partial') {
        ctx.addIssue({ code: 'custom', path: ['columns', index, 'strategy'], message: 'partial keeps what identifies a known format; a column can hold anything — use mask or redact' });
      }
    });
    const strategies = [...Object.values(profile.entities), ...profile.custom, ...profile.columns].map((rule) => rule?.strategy);
    if (strategies.includes('hash') && profile.hashKey === undefined) {
      ctx.addIssue({ code: 'custom', path: ['hashKey'], message: 'the hash strategy needs hashKey (a secret reference such as env:RUNGATE_MASKING_KEY)' });
    }
  });
export type MaskingProfileConfig = z.output<typeof MaskingProfileConfig>;
