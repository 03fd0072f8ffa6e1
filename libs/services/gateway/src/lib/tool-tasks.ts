import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import {
  ErrorCode as McpErrorCode,
  McpError,
  RELATED_TASK_META_KEY,
  type CallToolResult,
  type CreateTaskResult,
  type ListTasksResult,
  type Task,
} from '@modelcontextprotocol/sdk/types.js';
import { ApprovalRequiredResult, RungateError, Subjects, TasksReply, type Identity, type RequestMeta, type TaskOutcome, type TasksRequest } from '@rungate/contracts';
import { actorOf, isTransportError, type Bus } from '@rungate/messaging';
import { BUS } from '@rungate/runtime';
import { EdgeAttempts } from './edge-attempts';
import { errorResult, renderHeld, reportResult } from './render';
import { CallCancelled, ToolCalls } from './tool-calls';

const POLICY_TIMEOUT_MS = 10_000;
/** How often a blocked tasks/result asks policy whether its task has ended. */
export const TASK_RESULT_POLL_MS = 1_000;
/** What the spec lets a host hand the model at once while a task runs on (the held call's own text). */
const MODEL_IMMEDIATE_RESPONSE_KEY = 'io.modelcontextprotocol/model-immediate-response';

/** A call as ToolCalls takes it: the arguments after the identity, in its order. */
export type TaskCall = Parameters<ToolCalls['call']>;

function taskOf(task: TasksReply['tasks'][number] | undefined): Task {
  if (!task) throw new McpError(McpErrorCode.InternalError, 'policy answered no task');
  return task;
}

/** What tasks/result gives: exactly the CallToolResult the call would have returned. */
function callToolResultOf(outcome: TaskOutcome): CallToolResult {
  switch (outcome.kind) {
    case 'report':
      return reportResult(outcome.tool, outcome.report);
    case 'error':
      return errorResult(outcome.code, outcome.message);
    case 'stored':
      return outcome.result as CallToolResult;
  }
}

/**
 * MCP tasks (protocol 2025-11-25) at the edge (ADR 18 §8). A task-augmented tools/call runs
 * as any call, told to policy as a task (a tool that is never held is refused -32601); a held
 * call answers its run as a task (taskId = runId), one that was not held is kept as a task
 * already ended. tasks/get, tasks/result, tasks/list and tasks/cancel ask policy, which keeps
 * every task in the database: this gateway keeps none, so any replica answers any task.
 */
@Injectable()
export class ToolTasks implements OnApplicationShutdown {
  /** Aborted on shutdown: a tasks/result still blocked then ends (its client asks again elsewhere). */
  private readonly stopping = new AbortController();

  constructor(
    @Inject(BUS) private readonly bus: Bus,
    private readonly toolCalls: ToolCalls,
    private readonly attempts: EdgeAttempts,
  ) {}

  onApplicationShutdown(): void {
    this.stopping.abort();
  }

  async create(...call: TaskCall): Promise<CreateTaskResult> {
    const [identity, meta, tool] = call;
    const result = await this.toolCalls.call(...call);
    const held = result.isError ? undefined : ApprovalRequiredResult.safeParse(result.structuredContent);
    if (held?.success) {
      const { tasks } = await this.ask({ action: 'get', identity, meta, taskId: held.data.runId });
      return { task: taskOf(tasks[0]), _meta: { [MODEL_IMMEDIATE_RESPONSE_KEY]: renderHeld(tool, held.data) } };
    }
    // Not held: it ran (or was refused) at once, and its answer is kept as a task already ended.
    const { tasks } = await this.ask({
      action: 'record',
      identity,
      meta,
      tool,
      result: { content: result.content as Record<string, unknown>[], isError: result.isError === true, ...(result.structuredContent ? { structuredContent: result.structuredContent } : {}) },
    });
    return { task: taskOf(tasks[0]) };
  }

  async get(identity: Identity, meta: RequestMeta, taskId: string): Promise<Task> {
    return taskOf((await this.ask({ action: 'get', identity, meta, taskId })).tasks[0]);
  }

  /**
   * Blocks until the task ended, as the spec says, asking policy every TASK_RESULT_POLL_MS;
   * a client that goes away (`signal`) stops the wait and gets nothing.
   */
  async result(identity: Identity, meta: RequestMeta, taskId: string, signal: AbortSignal): Promise<CallToolResult> {
    const stop = AbortSignal.any([signal, this.stopping.signal]);
    for (;;) {
      const { outcome } = await this.ask({ action: 'get', identity, meta, taskId });
      if (outcome) {
        const result = callToolResultOf(outcome);
        return { ...result, _meta: { ...result._meta, [RELATED_TASK_META_KEY]: { taskId } } };
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, TASK_RESULT_POLL_MS);
        stop.addEventListener('abort', done, { once: true });
        function done() {
          clearTimeout(timer);
          stop.removeEventListener('abort', done);
          resolve();
        }
      });
      if (signal.aborted) throw new CallCancelled();
      if (stop.aborted) throw new McpError(McpErrorCode.InternalError, 'the gateway is shutting down; ask tasks/result again');
    }
  }

  async list(identity: Identity, meta: RequestMeta, cursor: string | undefined): Promise<ListTasksResult> {
    const { tasks, nextCursor } = await this.ask({ action: 'list', identity, meta, ...(cursor === undefined ? {} : { cursor }) });
    return { tasks, ...(nextCursor === undefined ? {} : { nextCursor }) };
  }

  async cancel(identity: Identity, meta: RequestMeta, taskId: string): Promise<Task> {
    return taskOf((await this.ask({ action: 'cancel', identity, meta, taskId })).tasks[0]);
  }

  /**
   * Policy's answer, or the JSON-RPC error the spec gives: -32602 for a task that is unknown
   * (or someone else's: the same), a cursor no page gave, or a cancel of a task that already
   * ended or is past cancelling; -32603 otherwise. Policy records its refusals; one it could
   * not answer is recorded here.
   */
  private async ask(request: TasksRequest): Promise<TasksReply> {
    try {
      return await this.bus.request(Subjects.policyTasks, request, TasksReply, { timeoutMs: POLICY_TIMEOUT_MS });
    } catch (error) {
      if (error instanceof RungateError) {
        if (error.details?.['attemptRecorded'] !== true) await this.recordUnanswered(request, error.code === 'SERVICE_UNAVAILABLE' ? 'policy-unavailable' : 'internal', error.message, error.code);
        switch (error.code) {
          case 'UNKNOWN_RUN':
            throw new McpError(McpErrorCode.InvalidParams, `Failed to retrieve task: Task not found (${error.message})`, { code: error.code });
          case 'RUN_NOT_PENDING':
            throw new McpError(McpErrorCode.InvalidParams, `Cannot cancel task: ${error.message}`, { code: error.code });
          case 'BAD_REQUEST':
            throw new McpError(McpErrorCode.InvalidParams, error.message, { code: error.code });
          default:
            throw new McpError(McpErrorCode.InternalError, error.message, { code: error.code });
        }
      }
      const reason = (error as Error).message;
      await this.recordUnanswered(request, isTransportError(error) ? 'policy-unavailable' : 'internal', reason, 'INTERNAL');
      throw new McpError(McpErrorCode.InternalError, isTransportError(error) ? 'policy did not answer; retry shortly' : 'internal error');
    }
  }

  private async recordUnanswered(request: TasksRequest, code: 'policy-unavailable' | 'internal', reason: string, answered: string): Promise<void> {
    await this.attempts.record({
      actor: actorOf(request.identity, request.meta),
      code,
      reason: `tasks ${request.action} failed: ${reason}`,
      answered,
      ...('taskId' in request ? { runId: request.taskId } : {}),
    });
  }
}
