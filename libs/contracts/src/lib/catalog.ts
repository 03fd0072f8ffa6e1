import { z } from 'zod';

export const ConnectionType = z.enum(['postgres', 'mysql', 'ssh', 'kubernetes', 'shell']);
export type ConnectionType = z.infer<typeof ConnectionType>;

export const ParameterType = z.enum([
  'text',
  'textarea',
  'number',
  'boolean',
  'email',
  'url',
  'date',
  'time',
  'tel',
  'select',
  'password',
  'file',
  'identifier',
]);
export type ParameterType = z.infer<typeof ParameterType>;

/** One declared parameter of a runbook, merged from every place the template uses it. */
export const ParameterSpec = z.object({
  name: z.string(),
  type: ParameterType,
  required: z.boolean(),
  default: z.string().optional(),
  requiredMessage: z.string().optional(),
  options: z.array(z.string()).optional(),
  pattern: z.string().optional(),
  minLength: z.number().int().nonnegative().optional(),
  maxLength: z.number().int().nonnegative().optional(),
  description: z.string().optional(),
  placeholder: z.string().optional(),
  order: z.number().int().optional(),
  asEnv: z.string().optional(),
});
export type ParameterSpec = z.infer<typeof ParameterSpec>;

/** The body language decides which executors can run it and how values are escaped. */
export const RunbookLanguage = z.enum(['sql', 'shell', 'kubernetes']);
export type RunbookLanguage = z.infer<typeof RunbookLanguage>;

export const RunbookMetadata = z.object({
  description: z.string().optional(),
  timeoutMs: z.number().int().positive(),
  readOnly: z.boolean(),
  destructive: z.boolean(),
  idempotent: z.boolean(),
  tags: z.array(z.string()),
  connectionTypes: z.array(ConnectionType),
  /** Kubernetes manifests: apply (server-side) or delete the objects. */
  action: z.enum(['apply', 'delete']).optional(),
});
export type RunbookMetadata = z.infer<typeof RunbookMetadata>;

/** A runbook as the catalog lists it: everything but the body, pinned to a commit. */
export const RunbookEntry = z.object({
  repository: z.string(),
  path: z.string(),
  tool: z.string(),
  language: RunbookLanguage,
  sha256: z.string(),
  metadata: RunbookMetadata,
  parameters: z.array(ParameterSpec),
});
export type RunbookEntry = z.infer<typeof RunbookEntry>;

export const RunbookFinding = z.object({
  path: z.string(),
  line: z.number().int(),
  column: z.number().int(),
  message: z.string(),
});
export type RunbookFinding = z.infer<typeof RunbookFinding>;

export const RepositoryCatalog = z.object({
  repository: z.string(),
  commit: z.string(),
  syncedAt: z.string(),
  runbooks: z.array(RunbookEntry),
  rejected: z.array(RunbookFinding),
  stale: z.boolean().default(false),
  /**
   * A catalog too large for one NATS message comes in pages: more runbooks follow; ask again
   * with this repository, this commit and `offset` set to this value.
   */
  nextOffset: z.number().int().nonnegative().optional(),
});
export type RepositoryCatalog = z.infer<typeof RepositoryCatalog>;

export const CatalogGetRequest = z.object({
  repository: z.string().optional(),
  /** Answer only once this commit is synced (after a catalog.updated event). */
  commit: z.string().optional(),
  /** The next page of one repository's runbooks (with `repository` and `commit`). */
  offset: z.number().int().nonnegative().optional(),
});
export type CatalogGetRequest = z.infer<typeof CatalogGetRequest>;
export const CatalogGetReply = z.object({ catalogs: z.array(RepositoryCatalog) });
export type CatalogGetReply = z.infer<typeof CatalogGetReply>;

export const CatalogContentRequest = z.object({
  repository: z.string(),
  commit: z.string(),
  path: z.string(),
});
export type CatalogContentRequest = z.infer<typeof CatalogContentRequest>;
export const CatalogContentReply = z.object({ content: z.string(), sha256: z.string() });
export type CatalogContentReply = z.infer<typeof CatalogContentReply>;

export const CatalogUpdatedEvent = z.object({
  repository: z.string(),
  commit: z.string(),
  previousCommit: z.string().optional(),
});
export type CatalogUpdatedEvent = z.infer<typeof CatalogUpdatedEvent>;
