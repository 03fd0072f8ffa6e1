import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * MCP tasks (ADR 18 §8). A held run may end `withdrawn`: its requester cancelled its task while
 * it was pending, and it never executes. `task_results` keeps, for their caller, the results of
 * task-augmented calls that were not held but answered at once, so `tasks/result` answers them
 * from any gateway replica and after a restart. The requester's tasks are listed newest first.
 */
export class RunTasks1764000000870 implements MigrationInterface {
  name = 'RunTasks1764000000870';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE approval_runs DROP CONSTRAINT approval_runs_state_check');
    await q.query(
      `ALTER TABLE approval_runs ADD CONSTRAINT approval_runs_state_check CHECK (state IN ('pending', 'approved', 'executing', 'executed', 'failed', 'rejected', 'expired', 'withdrawn'))`,
    );
    await q.query(`CREATE INDEX approval_runs_requester ON approval_runs ((requester->'identity'->>'user'), created_at)`);
    await q.query(`
      CREATE TABLE task_results (
        task_id    text PRIMARY KEY,
        requester  text NOT NULL,
        agent      text,
        tool       text NOT NULL,
        status     text NOT NULL CHECK (status IN ('completed', 'failed')),
        result     jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX task_results_requester ON task_results (requester, created_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE task_results');
    await q.query('DROP INDEX approval_runs_requester');
    await q.query(`UPDATE approval_runs SET state = 'rejected' WHERE state = 'withdrawn'`);
    await q.query('ALTER TABLE approval_runs DROP CONSTRAINT approval_runs_state_check');
    await q.query(
      `ALTER TABLE approval_runs ADD CONSTRAINT approval_runs_state_check CHECK (state IN ('pending', 'approved', 'executing', 'executed', 'failed', 'rejected', 'expired'))`,
    );
  }
}
