import { Inject, Injectable, Logger } from '@nestjs/common';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  AuthorizeReply,
  ExecResult,
  RunEventTypes,
  RungateError,
  Subjects,
  ToolsReply,
  execSubject,
  type Identity,
  type RequestMeta,
  type ToolDefinition,
} from '@rungate/contracts';
import { isTransportError, setRunId, type AuditSink, type Bus } from '@rungate/messaging';
import { AUDIT_SINK, BUS, Metrics } from '@rungate/runtime';
import { renderText, structured } from './render';

export type ToolCallResult = CallToolResult;

/** Grace beyond a runbook's own timeout for the executor to report a timed-out run. */
const EXEC_GRACE_MS = 5000;
/**
 * An executor reports every second while it runs; one silent for four (killed, hung, cut
 * off) is presumed dead and the outcome is unknown — within seconds, not the run's timeout.
 */
const EXEC_HEARTBEAT_MS = 1000;

/** The path of one call (DESIGN.md §2): authorize with policy, then run on an executor. */
@Injectable()
export class ToolCalls {
  private readonly log = new Logger(ToolCalls.name);

  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  /** One page of the caller's tools; `nextCursor` when more follow (MCP tools/list pagination). */
  async list(identity: Identity, cursor?: string): Promise<{ tools: ToolDefinition[]; nextCursor?: string }> {
    return this.bus.request(Subjects.policyTools, { identity, ...(cursor === undefined ? {} : { cursor }) }, ToolsReply, { timeoutMs: 10_000 });
  }

  /** Domain failures come back as `isError` results; UNKNOWN_TOOL is rethrown for a protocol error. */
  async call(identity: Identity, meta: RequestMeta, tool: string, args: Record<string, unknown>, idempotencyKey?: string): Promise<ToolCallResult> {
    const stopTimer = Metrics.toolCallSeconds.startTimer();
    let outcome = 'unknown_tool';
    try {
      const result = await this.callOnce(identity, meta, tool, args, idempotencyKey);
      outcome = outcomeLabel(result);
      return result;
    } finally {
      Metrics.toolCalls.inc({ outcome });
      const seconds = stopTimer();
      // One line per call; the log context adds its trace id and, once policy decided, its run id.
      this.log.log(`tools/call ${tool} by ${identity.user}${identity.agent ? ` via ${identity.agent}` : ''}: ${outcome} in ${(seconds * 1000).toFixed(1)} ms`);
    }
  }

  private async callOnce(
    identity: Identity,
    meta: RequestMeta,
    tool: string,
    args: Record<string, unknown>,
    idempotencyKey?: string,
  ): Promise<ToolCallResult> {
    let decision: AuthorizeReply;
    try {
      decision = await this.bus.request(
        Subjects.policyAuthorize,
        { identity, tool, arguments: args, idempotencyKey, meta },
        AuthorizeReply,
        { timeoutMs: 10_000 },
      );
    } catch (error) {
      if (error instanceof RungateError && error.code === 'UNKNOWN_TOOL') throw error;
      return failure(error);
    }
    setRunId(decision.runId);
    if (decision.effect === 'approval_required') {
      return { isError: true, content: [{ type: 'text', text: `APPROVAL_REQUIRED: run ${decision.runId} waits for approval: ${decision.reason}` }] };
    }
    const sentAt = performance.now();
    try {
      const result = await this.bus.request(
        execSubject(decision.connection.type),
        { ticket: decision.ticket, body: decision.body },
        ExecResult,
        { timeoutMs: decision.timeoutMs + EXEC_GRACE_MS, heartbeatMs: EXEC_HEARTBEAT_MS },
      );
      return {
        isError: result.status === 'failed',
        content: [{ type: 'text', text: renderText(tool, result) }],
        structuredContent: structured(result),
      };
    } catch (error) {
      // Only when the bus itself failed is the outcome unknown; a typed error is the executor's own report.
      if (isTransportError(error)) {
        const idempotent = idempotencyKey ? ' A retry with the same idempotency key will not run it again.' : '';
        this.log.warn(`run ${decision.runId}: outcome unknown (${error.message})`);
        const unknown = new RungateError(
          'OUTCOME_UNKNOWN',
          `the ${decision.connection.type} executor did not report run ${decision.runId} (${error.message}); its outcome is unknown — check the audit log before retrying.${idempotent}`,
        );
        await this.auditUnknown(identity, meta, tool, decision, unknown, performance.now() - sentAt);
        return failure(unknown);
      }
      return failure(error);
    }
  }

  /**
   * The executor may have died mid-run and can no longer say so: the gateway records that the
   * outcome is unknown. Best effort — the agent's answer does not wait on a failing stream.
   */
  private async auditUnknown(
    identity: Identity,
    meta: RequestMeta,
    tool: string,
    decision: Extract<AuthorizeReply, { effect: 'allow' }>,
    error: RungateError,
    waitedMs: number,
  ): Promise<void> {
    try {
      await this.audit.publish({
        type: RunEventTypes.failed,
        source: 'gateway',
        runId: decision.runId,
        tool,
        actor: { user: identity.user, groups: identity.groups, agent: identity.agent, tokenId: identity.tokenId, ...meta },
        connection: decision.connection,
        outcome: { status: 'unknown', exitCode: null, durationMs: Math.round(waitedMs), errorCode: error.code, error: error.message },
      });
    } catch (caught) {
      this.log.error(`run ${decision.runId}: could not audit its unknown outcome: ${(caught as Error).message}`);
    }
  }
}

function outcomeLabel(result: ToolCallResult): string {
  if (!result.isError) return 'ok';
  const text = result.content[0]?.type === 'text' ? result.content[0].text : '';
  const code = /^([A-Z_]+):/.exec(text)?.[1];
  return code ? code.toLowerCase() : 'failed';
}

function failure(error: unknown): ToolCallResult {
  const body = error instanceof RungateError ? error : new RungateError('INTERNAL', 'internal error');
  return { isError: true, content: [{ type: 'text', text: `${body.code}: ${body.message}` }] };
}
