import { z } from 'zod';

/**
 * The closed set of error codes that cross the bus. Each edge (MCP result, HTTP status,
 * CLI exit code) maps them once; messages are written to be safe to show an agent.
 */
export const ErrorCode = z.enum([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'UNKNOWN_TOOL',
  'INVALID_PARAMS',
  'PARAMS_TOO_LARGE',
  'IDEMPOTENCY_CONFLICT',
  'GUARDRAIL_BLOCKED',
  /** An exploration asked for something it may not do (a write, two statements, a refused function): nothing ran. */
  'EXPLORATION_REFUSED',
  /** No exploration session of that id (or none the caller may read). */
  'SESSION_NOT_FOUND',
  'APPROVAL_REQUIRED',
  /** No held run of that id, or none the caller may see (another user's run answers the same). */
  'UNKNOWN_RUN',
  /** The run is no longer pending: approved, rejected, expired, executed, or a decision of this approver already counted. */
  'RUN_NOT_PENDING',
  /** A held call its client waited on (gateway.heldCallWait) ended unexecuted: its run was rejected or expired. */
  'RUN_NOT_APPROVED',
  /** The caller is not in any of the run's approver groups. */
  'NOT_AN_APPROVER',
  /** The requester's own human (through any of their agents) may not approve their run. */
  'SELF_APPROVAL',
  /** Only a human credential decides an approval; an agent token never does. */
  'AGENT_CANNOT_APPROVE',
  /** A task-augmented call (MCP tasks) of a tool that is never held for this caller: answered as the spec's -32601. */
  'TASK_NOT_SUPPORTED',
  'CATALOG_UNAVAILABLE',
  'AUDIT_UNAVAILABLE',
  'TICKET_INVALID',
  'TICKET_EXPIRED',
  'TICKET_REPLAYED',
  'BODY_MISMATCH',
  'MASKING_UNAVAILABLE',
  'CONNECTION_UNKNOWN',
  'TARGET_UNAVAILABLE',
  'EXECUTION_FAILED',
  'TIMEOUT',
  /** The caller cancelled the call; the run was stopped (or never started). */
  'CANCELLED',
  'OUTCOME_UNKNOWN',
  'BAD_REQUEST',
  'SERVICE_UNAVAILABLE',
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** JSON-RPC 2.0's code for invalid method parameters, as MCP uses it (an unknown tool, a malformed request). */
export const JSONRPC_INVALID_PARAMS = -32602;
/** JSON-RPC 2.0's "method not found": MCP tasks answer it for a task-augmented call of a tool without task support. */
export const JSONRPC_METHOD_NOT_FOUND = -32601;

/** What each edge answers for one error code. */
export interface ErrorEdge {
  /** The HTTP status of an HTTP API's answer (the audit query API, serve's admin socket). */
  readonly http: number;
  /**
   * How MCP `tools/call` answers it: `'result'`, an `isError` result whose `structuredContent`
   * carries the code (the agent reads it and decides what to do next); or a JSON-RPC error of
   * this code, when the request itself was wrong. A request with no result to carry it
   * (`tools/list`) answers a `'result'` code as a JSON-RPC internal error.
   */
  readonly mcp: 'result' | typeof JSONRPC_INVALID_PARAMS | typeof JSONRPC_METHOD_NOT_FOUND;
  /** The exit code of a CLI command that fails with it: 2 for input the operator must change (as for usage), else 1. */
  readonly exit: 1 | 2;
}

/**
 * Every error code's answer at every edge, mapped here once: a new code does not compile
 * until it has its row. 499 (the client closed the request) is nginx's status for a call its
 * caller cancelled; no standard status says that.
 */
export const ERROR_EDGES: Readonly<Record<ErrorCode, ErrorEdge>> = {
  UNAUTHENTICATED: { http: 401, mcp: 'result', exit: 1 },
  FORBIDDEN: { http: 403, mcp: 'result', exit: 1 },
  UNKNOWN_TOOL: { http: 404, mcp: JSONRPC_INVALID_PARAMS, exit: 1 },
  INVALID_PARAMS: { http: 400, mcp: 'result', exit: 2 },
  PARAMS_TOO_LARGE: { http: 413, mcp: 'result', exit: 2 },
  IDEMPOTENCY_CONFLICT: { http: 409, mcp: 'result', exit: 1 },
  GUARDRAIL_BLOCKED: { http: 403, mcp: 'result', exit: 1 },
  EXPLORATION_REFUSED: { http: 403, mcp: 'result', exit: 1 },
  SESSION_NOT_FOUND: { http: 404, mcp: 'result', exit: 1 },
  APPROVAL_REQUIRED: { http: 403, mcp: 'result', exit: 1 },
  UNKNOWN_RUN: { http: 404, mcp: 'result', exit: 1 },
  RUN_NOT_PENDING: { http: 409, mcp: 'result', exit: 1 },
  RUN_NOT_APPROVED: { http: 403, mcp: 'result', exit: 1 },
  NOT_AN_APPROVER: { http: 403, mcp: 'result', exit: 1 },
  SELF_APPROVAL: { http: 403, mcp: 'result', exit: 1 },
  AGENT_CANNOT_APPROVE: { http: 403, mcp: 'result', exit: 1 },
  TASK_NOT_SUPPORTED: { http: 400, mcp: JSONRPC_METHOD_NOT_FOUND, exit: 2 },
  CATALOG_UNAVAILABLE: { http: 503, mcp: 'result', exit: 1 },
  AUDIT_UNAVAILABLE: { http: 503, mcp: 'result', exit: 1 },
  TICKET_INVALID: { http: 403, mcp: 'result', exit: 1 },
  TICKET_EXPIRED: { http: 403, mcp: 'result', exit: 1 },
  TICKET_REPLAYED: { http: 409, mcp: 'result', exit: 1 },
  BODY_MISMATCH: { http: 403, mcp: 'result', exit: 1 },
  MASKING_UNAVAILABLE: { http: 503, mcp: 'result', exit: 1 },
  CONNECTION_UNKNOWN: { http: 404, mcp: 'result', exit: 1 },
  TARGET_UNAVAILABLE: { http: 503, mcp: 'result', exit: 1 },
  EXECUTION_FAILED: { http: 502, mcp: 'result', exit: 1 },
  TIMEOUT: { http: 503, mcp: 'result', exit: 1 },
  CANCELLED: { http: 499, mcp: 'result', exit: 1 },
  OUTCOME_UNKNOWN: { http: 504, mcp: 'result', exit: 1 },
  BAD_REQUEST: { http: 400, mcp: JSONRPC_INVALID_PARAMS, exit: 2 },
  SERVICE_UNAVAILABLE: { http: 503, mcp: 'result', exit: 1 },
  INTERNAL: { http: 500, mcp: 'result', exit: 1 },
};

export const ErrorBody = z.object({
  code: ErrorCode,
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export class RungateError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'RungateError';
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }

  static from(body: ErrorBody): RungateError {
    return new RungateError(body.code, body.message, body.details);
  }
}

/**
 * A failure no caller brought about: a broken invariant, a service used before it started, a
 * deployment missing a key or a setting. Its code is INTERNAL at every edge; unlike a
 * RungateError's, its message is for the service log and the operator (the CLI prints it), never
 * for an agent: the edges that answer agents answer it as INTERNAL with a generic message.
 */
export class InternalError extends Error {
  readonly code = 'INTERNAL' satisfies ErrorCode;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InternalError';
  }
}

/** A reply on the bus is either a value or a typed error; never a thrown stack trace. */
function buildReplySchema<T extends z.ZodTypeAny>(value: T) {
  return z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), value }),
    z.object({ ok: z.literal(false), error: ErrorBody }),
  ]);
}

// zod compiles a schema on its first parse; a reply schema made per request was compiled per
// request (about 1 ms of CPU on every bus hop), so each value schema gets one, made once.
const replySchemas = new WeakMap<z.ZodTypeAny, z.ZodTypeAny>();

export function replySchema<T extends z.ZodTypeAny>(value: T): ReturnType<typeof buildReplySchema<T>> {
  let schema = replySchemas.get(value);
  if (!schema) {
    schema = buildReplySchema(value);
    replySchemas.set(value, schema);
  }
  return schema as ReturnType<typeof buildReplySchema<T>>;
}
export type Reply<T> = { ok: true; value: T } | { ok: false; error: ErrorBody };
