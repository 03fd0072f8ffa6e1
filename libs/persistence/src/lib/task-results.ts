import type { DataSource } from 'typeorm';
import type { TaskPageKey } from './approval-runs';

/**
 * The answer of a task-augmented call that was not held (ADR 18 §8): the CallToolResult it
 * returned, kept for its caller so `tasks/result` answers it from any gateway replica.
 */
export interface TaskResultRecord {
  taskId: string;
  requester: string;
  agent?: string;
  tool: string;
  status: 'completed' | 'failed';
  result: Record<string, unknown>;
  createdAt: string;
}

interface Row {
  task_id: string;
  requester: string;
  agent: string | null;
  tool: string;
  status: 'completed' | 'failed';
  result: Record<string, unknown> | string;
  created_at: Date | string;
}

function recordOf(row: Row): TaskResultRecord {
  return {
    taskId: row.task_id,
    requester: row.requester,
    ...(row.agent === null ? {} : { agent: row.agent }),
    tool: row.tool,
    status: row.status,
    result: typeof row.result === 'string' ? (JSON.parse(row.result) as Record<string, unknown>) : row.result,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** `task_results` in Rungate's database (PGlite for `rungate serve`, the shared PostgreSQL otherwise). */
export class TaskResultStore {
  constructor(private readonly db: DataSource) {}

  async record(task: Omit<TaskResultRecord, 'createdAt'>): Promise<TaskResultRecord> {
    const rows: Row[] = await this.db.query(
      `INSERT INTO task_results (task_id, requester, agent, tool, status, result) VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING *`,
      [task.taskId, task.requester, task.agent ?? null, task.tool, task.status, JSON.stringify(task.result)],
    );
    return recordOf(rows[0] as Row);
  }

  /** The task of this id, only when `requester` made it. */
  async get(taskId: string, requester: string): Promise<TaskResultRecord | undefined> {
    const rows: Row[] = await this.db.query('SELECT * FROM task_results WHERE task_id = $1 AND requester = $2', [taskId, requester]);
    return rows[0] ? recordOf(rows[0]) : undefined;
  }

  /** `requester`'s tasks, newest first, strictly before `before`; each with its page key. */
  async requestedBy(requester: string, limit: number, before?: TaskPageKey): Promise<{ task: TaskResultRecord; key: TaskPageKey }[]> {
    const rows: (Row & { created_us: string })[] = await this.db.query(
      `SELECT *, (extract(epoch FROM created_at) * 1000000)::bigint::text AS created_us FROM task_results
       WHERE requester = $1 AND ($2::bigint IS NULL OR ((extract(epoch FROM created_at) * 1000000)::bigint, task_id) < ($2::bigint, $3::text))
       ORDER BY created_at DESC, task_id DESC LIMIT $4`,
      [requester, before?.createdUs ?? null, before?.id ?? null, limit],
    );
    return rows.map((row) => ({ task: recordOf(row), key: { createdUs: row.created_us, id: row.task_id } }));
  }
}
