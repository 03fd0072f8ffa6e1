import { z } from 'zod';
import { ConnectionType } from './catalog';
import { ChangeWindow } from './change-window';
import { ErrorBody } from './errors';
import { AuthenticateRequest, Identity, RequestMeta } from './identity';

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
  /** MCP tasks (2025-11-25): `optional` on a tool whose call may be held for this caller (ADR 18 §8); absent means forbidden. */
  execution: z.object({ taskSupport: z.literal('optional') }).optional(),
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
  /**
   * The call is task-augmented (MCP tasks, ADR 18 §8): refused TASK_NOT_SUPPORTED, on the
   * record, unless the tool may be held for this caller (as tools/list says with taskSupport).
   */
  task: z.literal(true).optional(),
});
export type AuthorizeRequest = z.infer<typeof AuthorizeRequest>;

export const ConnectionRef = z.object({ name: z.string(), type: ConnectionType });
export type ConnectionRef = z.infer<typeof ConnectionRef>;

/** Where a held run is (ADR 18 §2): pending → approved → executing → executed | failed; or rejected, expired, withdrawn (by its requester). */
export const ApprovalState = z.enum(['pending', 'approved', 'executing', 'executed', 'failed', 'rejected', 'expired', 'withdrawn']);
export type ApprovalState = z.infer<typeof ApprovalState>;

/**
 * Who must approve a held run (ADR 18 §1): `count` approvals from `groups` — with `allGroups`,
 * at least one from each of them — or one approval alone by a human of `breakGlassGroups`.
 * The optional fields are present only when the approval in force sets them.
 */
export const HeldApprovers = z.object({
  groups: z.array(z.string()),
  count: z.number().int().positive(),
  allGroups: z.literal(true).optional(),
  breakGlassGroups: z.array(z.string()).optional(),
});
export type HeldApprovers = z.infer<typeof HeldApprovers>;

/** An allowed call: the signed ticket and the body the gateway sends to `exec.<type>`. */
export const AllowReply = z.object({
  effect: z.literal('allow'),
  runId: z.string(),
  connection: ConnectionRef,
  ticket: z.string(),
  body: z.string(),
  timeoutMs: z.number().int().positive(),
});
export type AllowReply = z.infer<typeof AllowReply>;

/**
 * Policy's answer to a call it did not refuse (a refusal is a typed error): allowed, held for
 * an approval (stored, nothing signed, nothing sent to an executor; ADR 18 §2), or answered by
 * policy itself (a built-in tool that runs nothing, `rungate_run_status`).
 */
export const AuthorizeReply = z.discriminatedUnion('effect', [
  AllowReply,
  z.object({
    effect: z.literal('approval_required'),
    runId: z.string(),
    approvers: HeldApprovers,
    expiresAt: z.string(),
    /** The held run's state: `pending` when just stored; another when the same call (its idempotency key) came again later. */
    state: ApprovalState,
    /** The change windows an approved run may start in (all open at once; ADR 18 §1). */
    windows: z.array(ChangeWindow).optional(),
    /** Once approved with windows: when it may start (the next opening). */
    startsAt: z.string().optional(),
  }),
  z.object({ effect: z.literal('answered'), structuredContent: z.record(z.string(), z.unknown()), text: z.string() }),
]);
export type AuthorizeReply = z.infer<typeof AuthorizeReply>;

/**
 * `rungate.policy.authorize.v2` (ADR 24): a tools/call in one round trip. The caller's bearer
 * token in place of an identity: policy authenticates it (as `authenticate.v1`, on this very
 * request, so a revoked token is refused at once) and then authorizes the call as `authorize.v1`.
 */
export const BearerAuthorizeRequest = AuthorizeRequest.omit({ identity: true }).extend({ bearer: AuthenticateRequest.shape.bearer });
export type BearerAuthorizeRequest = z.infer<typeof BearerAuthorizeRequest>;

/**
 * A token that does not authenticate is the request's error (as on `authenticate.v1`); once it
 * did, the reply names whom, with policy's decision or the typed error it refused the call with
 * (as on `authorize.v1`: `details.attemptRecorded` when policy recorded it).
 */
export const BearerAuthorizeReply = z.union([
  z.object({ identity: Identity, decision: AuthorizeReply }),
  z.object({ identity: Identity, refusal: ErrorBody }),
]);
export type BearerAuthorizeReply = z.infer<typeof BearerAuthorizeReply>;

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
