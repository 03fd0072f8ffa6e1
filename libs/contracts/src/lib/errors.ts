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
