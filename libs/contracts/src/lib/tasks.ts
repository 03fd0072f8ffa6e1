import { z } from 'zod';
import { ExecResult } from './execution';
import { Identity, RequestMeta } from './identity';
import { MAX_TOOL_NAME } from './tools';

/**
 * MCP tasks (protocol 2025-11-25) over held runs (ADR 18 §8): a task-augmented call of a tool
 * that may be held answers a task. A held call's task IS the held run (taskId = runId) and its
 * state is the run's, in `approval_runs`; a call that was not held (it ran or was refused at
 * once) is a task already ended whose CallToolResult is kept in `task_results`. These are the
 * shapes on `rungate.policy.tasks.v1`: any gateway replica asks any policy replica.
 */

export const TaskId = z.string().min(1).max(64);

/** MCP's task status. */
export const TaskStatus = z.enum(['working', 'input_required', 'completed', 'failed', 'cancelled']);
export type TaskStatus = z.infer<typeof TaskStatus>;

/**
 * MCP's Task. `ttl` is null: a task lives as long as its held run's record, which is never
 * pruned. `pollInterval` only while it has not ended.
 */
export const RunTask = z.object({
  taskId: z.string(),
  status: TaskStatus,
  statusMessage: z.string().optional(),
  createdAt: z.string(),
  lastUpdatedAt: z.string(),
  ttl: z.null(),
  pollInterval: z.number().int().positive().optional(),
});
export type RunTask = z.infer<typeof RunTask>;

/** A CallToolResult as it was answered (a call that was not held), kept as it is. */
export const StoredToolResult = z.object({
  content: z.array(z.record(z.string(), z.unknown())),
  structuredContent: z.record(z.string(), z.unknown()).optional(),
  isError: z.boolean(),
});
export type StoredToolResult = z.infer<typeof StoredToolResult>;

/**
 * What `tasks/result` answers once the task ended, for the gateway to give as the
 * CallToolResult the call would have returned: the executor's report of a held run (rendered as
 * any run's), a coded error (a run rejected, expired, withdrawn, or failed before or while
 * executing), or the result a call that was not held answered.
 */
export const TaskOutcome = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('report'), tool: z.string(), report: ExecResult }),
  z.object({ kind: z.literal('error'), code: z.string(), message: z.string() }),
  z.object({ kind: z.literal('stored'), result: StoredToolResult }),
]);
export type TaskOutcome = z.infer<typeof TaskOutcome>;

export const TasksRequest = z.discriminatedUnion('action', [
  /** The caller's own task (held runs: the requester's user, through any agent); anyone else's is UNKNOWN_RUN, as if it did not exist. */
  z.object({ action: z.literal('get'), identity: Identity, meta: RequestMeta.default({}), taskId: TaskId }),
  /** The caller's tasks, newest first; `cursor` is the previous page's nextCursor. */
  z.object({ action: z.literal('list'), identity: Identity, meta: RequestMeta.default({}), cursor: z.string().max(256).optional() }),
  /** Withdraws the caller's pending held run (audit.run.withdrawn); anything else is RUN_NOT_PENDING. */
  z.object({ action: z.literal('cancel'), identity: Identity, meta: RequestMeta.default({}), taskId: TaskId }),
  /** Keeps the answer of a task-augmented call that was not held, as a task already ended. */
  z.object({ action: z.literal('record'), identity: Identity, meta: RequestMeta.default({}), tool: z.string().min(1).max(MAX_TOOL_NAME), result: StoredToolResult }),
]);
export type TasksRequest = z.infer<typeof TasksRequest>;

/** `get`, `cancel` and `record` answer one task (`get` with its outcome once it ended); `list` a page. */
export const TasksReply = z.object({ tasks: z.array(RunTask), nextCursor: z.string().optional(), outcome: TaskOutcome.optional() });
export type TasksReply = z.infer<typeof TasksReply>;
