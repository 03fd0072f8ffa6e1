import { z } from 'zod';
import { ExploreClaim } from './exploration';
import { OutputGuardrail } from './guardrails';
import { MAX_TICKET_CHARS } from './limits';
import { ConnectionRef } from './tools';

export const RunLimits = z.strictObject({
  timeoutMs: z.number().int().positive(),
  maxRows: z.number().int().positive(),
  maxBytes: z.number().int().positive(),
});
export type RunLimits = z.infer<typeof RunLimits>;

/**
 * How MySQL reads quoted text in a session, from its sql_mode: with NO_BACKSLASH_ESCAPES a
 * backslash in a string is an ordinary character; with ANSI_QUOTES `"…"` is an identifier.
 * A value escaped for one setting can break out of its quotes under the other (ADR 16).
 */
export const MysqlQuoting = z.strictObject({ noBackslashEscapes: z.boolean(), ansiQuotes: z.boolean() });
export type MysqlQuoting = z.infer<typeof MysqlQuoting>;

/**
 * What policy signs. Executors act on these claims and nothing else: a run ticket names
 * exactly one body (by hash) on exactly one connection, once, for a few seconds.
 *
 * Strict: a claim this build does not know is refused, never dropped. An executor older than
 * the policy that signed a ticket could otherwise run it without a condition it carries (a
 * masking profile, an output guardrail) and report success.
 */
const RunTicketShape = z.strictObject({
  /**
   * 2 when the ticket carries output guardrails, a masking profile or an exploration: an
   * executor that cannot apply them only knows 1, and refuses it.
   */
  v: z.union([z.literal(1), z.literal(2)]),
  runId: z.string(),
  iat: z.number().int(),
  exp: z.number().int(),
  identity: z.strictObject({
    user: z.string(),
    groups: z.array(z.string()),
    agent: z.string().optional(),
    tokenId: z.string().optional(),
  }),
  /** The reviewed runbook the body was rendered from; absent only for an exploration (`explore`). */
  runbook: z
    .strictObject({
      repository: z.string(),
      path: z.string(),
      commit: z.string(),
      sha256: z.string(),
    })
    .optional(),
  bodySha256: z.string(),
  /** The MCP tool name the call came in as, so every event of the run names it. */
  tool: z.string().optional(),
  connection: ConnectionRef,
  /** Validated parameters for the audit record; password-typed values are redacted. */
  params: z.record(z.string(), z.string()),
  /** `asenv` parameters, exported to the script's environment by shell-like executors. */
  env: z.record(z.string(), z.string()).default({}),
  limits: RunLimits,
  readOnly: z.boolean(),
  dryRun: z.boolean().default(false),
  /**
   * MySQL runs: the quoting the body's values were escaped for. executor-mysql runs the body
   * only in a session pinned to the same, and refuses a ticket without it.
   */
  mysqlQuoting: MysqlQuoting.optional(),
  /** Kubernetes manifests: apply (server-side, the default) or delete, from the runbook's `@action`. */
  action: z.enum(['apply', 'delete']).optional(),
  rule: z.string().optional(),
  /** Checked by the executor on the output before it leaves (run tickets v2). */
  guardrails: z.array(OutputGuardrail).optional(),
  /**
   * The masking profile executors must apply to the output (ADR 14): its name and the
   * SHA-256 of its definition. An executor whose profile of that name differs refuses the
   * run; absent, the output is not masked.
   */
  masking: z.strictObject({ profile: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
  /**
   * A read-only exploration (ADR 19): the body is an agent's own statement or read, not a
   * runbook, and the executor runs it under its read-only regime, whatever policy's own check
   * of it said.
   */
  explore: ExploreClaim.optional(),
});
/** Exactly one of `runbook` and `explore`; an exploration is v2 (a v1-only executor refuses it), read-only and never a dry run. */
export const RunTicketClaims = RunTicketShape.refine(
  (claims) => (claims.runbook === undefined) !== (claims.explore === undefined),
  'a run ticket names a runbook or an exploration, exactly one',
).refine((claims) => claims.explore === undefined || (claims.readOnly && claims.v === 2 && !claims.dryRun), 'an exploration ticket is v2, read-only and no dry run');
export type RunTicketClaims = z.infer<typeof RunTicketClaims>;

/**
 * How a sender of `exec.<type>` (the gateway for a call, policy for an approved run) waits
 * for the executor: the runbook's own timeout plus this grace for its report (the executor's
 * own cancel grace is 3 s), also after it was told to stop a run.
 */
export const EXEC_REPORT_GRACE_MS = 5000;
/**
 * An executor reports every second while it runs; one silent for four (killed, hung, cut
 * off) is presumed dead and the outcome is unknown — within seconds, not the run's timeout.
 */
export const EXEC_HEARTBEAT_MS = 1000;

export const ExecRequest = z.object({
  ticket: z.string().min(1).max(MAX_TICKET_CHARS),
  body: z.string().max(1024 * 1024),
});
export type ExecRequest = z.infer<typeof ExecRequest>;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export const JsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(JsonValue), z.record(z.string(), JsonValue)]),
);

export const SqlColumn = z.object({
  name: z.string(),
  type: z.string(),
  /**
   * The table column PostgreSQL says the values come from, for masking's column rules. Only
   * inside the executor, when its profile has column rules; never in a reply.
   */
  source: z.object({ schema: z.string(), table: z.string(), column: z.string() }).optional(),
});
export type SqlColumn = z.infer<typeof SqlColumn>;

export const SqlOutput = z.object({
  kind: z.literal('sql'),
  columns: z.array(SqlColumn),
  rows: z.array(z.record(z.string(), JsonValue)),
  rowCount: z.number().int(),
  statements: z.array(z.object({ command: z.string(), rowCount: z.number().int().nullable() })),
  truncated: z.boolean(),
});
export type SqlOutput = z.infer<typeof SqlOutput>;

export const ProcessOutput = z.object({
  kind: z.literal('process'),
  exitCode: z.number().int().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  truncated: z.boolean(),
});
export type ProcessOutput = z.infer<typeof ProcessOutput>;

export const RunOutput = z.discriminatedUnion('kind', [SqlOutput, ProcessOutput]);
export type RunOutput = z.infer<typeof RunOutput>;

export const ExecResult = z.object({
  runId: z.string(),
  status: z.enum(['succeeded', 'failed']),
  durationMs: z.number(),
  dryRun: z.boolean(),
  output: RunOutput,
});
export type ExecResult = z.infer<typeof ExecResult>;

/** A report as a tool result's `structuredContent` (and a held run's stored result): the run id, duration, dry run and the output's fields. */
export function execResultContent(result: ExecResult): Record<string, unknown> {
  return { runId: result.runId, durationMs: result.durationMs, dryRun: result.dryRun, ...result.output };
}

/** The report a held run's stored result (execResultContent) was made from, given its status; undefined when it is not one. */
export function execResultOf(content: Record<string, unknown>, status: ExecResult['status']): ExecResult | undefined {
  const { runId, durationMs, dryRun, ...output } = content;
  const parsed = ExecResult.safeParse({ runId, status, durationMs, dryRun, output });
  return parsed.success ? parsed.data : undefined;
}

/**
 * Why a run is stopped from outside its executor: its caller cancelled the call, or the call
 * ran out of `gateway.callTimeout`.
 */
export const StopReason = z.enum(['cancelled', 'call_timeout']);
export type StopReason = z.infer<typeof StopReason>;

/** `rungate.exec.<type>.cancel.v1`: stop run `runId` wherever it runs, or refuse it if it has not arrived yet. */
export const ExecCancel = z.object({
  runId: z.string().min(1).max(128),
  reason: StopReason,
  /** For `call_timeout`: the limit that ran out, named in the run's error. */
  callTimeoutMs: z.number().int().positive().optional(),
});
export type ExecCancel = z.infer<typeof ExecCancel>;

/**
 * `rungate.gateway.cancel.v1`: a client's `notifications/cancelled`, relayed to every gateway
 * replica. `caller` is the SHA-256 of the bearer token that sent it (never the token itself):
 * only a request made with the same token matches.
 */
export const GatewayCancel = z.object({
  caller: z.string().regex(/^[0-9a-f]{64}$/),
  session: z.string().min(1).max(128).optional(),
  requestId: z.union([z.string().max(256), z.number().int()]),
});
export type GatewayCancel = z.infer<typeof GatewayCancel>;
