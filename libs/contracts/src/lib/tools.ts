import { z } from 'zod';
import { ConnectionType } from './catalog';
import { Identity, RequestMeta } from './identity';

export const JsonSchemaObject = z.record(z.string(), z.unknown());

export const ToolAnnotations = z.object({
  title: z.string().optional(),
  readOnlyHint: z.boolean().optional(),
  destructiveHint: z.boolean().optional(),
  idempotentHint: z.boolean().optional(),
  openWorldHint: z.boolean().optional(),
});

/** A runbook as one MCP tool, already narrowed to what this caller may run. */
export const ToolDefinition = z.object({
  name: z.string(),
  title: z.string().optional(),
  description: z.string(),
  inputSchema: JsonSchemaObject,
  outputSchema: JsonSchemaObject.optional(),
  annotations: ToolAnnotations,
});
export type ToolDefinition = z.infer<typeof ToolDefinition>;

export const ToolsRequest = z.object({
  identity: Identity,
  /** MCP's tools/list cursor, passed through: the nextCursor of the previous page. */
  cursor: z.string().max(256).optional(),
});
export const ToolsReply = z.object({ tools: z.array(ToolDefinition), nextCursor: z.string().optional() });
export type ToolsReply = z.infer<typeof ToolsReply>;

/** No tool's name is longer: a longer one is unknown without asking anyone. */
export const MAX_TOOL_NAME = 512;

export const AuthorizeRequest = z.object({
  identity: Identity,
  tool: z.string().min(1).max(MAX_TOOL_NAME),
  arguments: z.record(z.string(), z.unknown()),
  /**
   * As the caller sent it (`_meta["io.rungate/idempotencyKey"]` or the Idempotency-Key
   * header), any JSON value: policy validates it, so a bad one is refused on the record
   * rather than dropped at the bus.
   */
  idempotencyKey: z.unknown().optional(),
  meta: RequestMeta.default({}),
  /**
   * The `Mcp-Session-Id` the client sent back (ADR 12): exploration calls of one MCP session
   * form one exploration session (ADR 19). It holds no authority; it only groups.
   */
  session: z.string().min(1).max(128).optional(),
});
export type AuthorizeRequest = z.infer<typeof AuthorizeRequest>;

export const ConnectionRef = z.object({ name: z.string(), type: ConnectionType });
export type ConnectionRef = z.infer<typeof ConnectionRef>;

/** Policy's answer to an allowed call; a refusal (an approval required among them) is a typed error. */
export const AuthorizeReply = z.object({
  effect: z.literal('allow'),
  runId: z.string(),
  connection: ConnectionRef,
  ticket: z.string(),
  body: z.string(),
  timeoutMs: z.number().int().positive(),
});
export type AuthorizeReply = z.infer<typeof AuthorizeReply>;

/** The web console's catalog (ADR 23): the runbooks tools/list gives this identity, with origin, commit, granting rules and lint status. */
export const CatalogViewRequest = z.object({ identity: Identity });
export const CatalogViewReply = z.object({
  repositories: z.array(z.object({ repository: z.string(), commit: z.string(), syncedAt: z.string(), stale: z.boolean(), lintRefused: z.number().int().nonnegative() })),
  runbooks: z.array(
    z.object({
      tool: z.string(),
      repository: z.string(),
      path: z.string(),
      grants: z.array(z.object({ connection: z.string(), rule: z.string(), approval: z.boolean() })),
    }),
  ),
});
export type CatalogViewReply = z.infer<typeof CatalogViewReply>;
