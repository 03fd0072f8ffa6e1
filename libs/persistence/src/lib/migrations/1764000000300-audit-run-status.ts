import type { MigrationInterface, QueryRunner } from 'typeorm';
import { projectRunStatuses, runEventOfRow } from '../run-status-projection';

const PAGE = 10_000;

/**
 * A run's status is a state machine over its events (libs/audit-chain run-status), kept in
 * `audit_run_status` by the chain writer in the same transaction as the events. The view
 * used to take the last outcome, so a replayed ticket refused after a run committed showed
 * the run as refused. Existing runs are folded once here.
 */
export class AuditRunStatus1764000000300 implements MigrationInterface {
  name = 'AuditRunStatus1764000000300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_run_status (
        run_id     text PRIMARY KEY,
        status     text NOT NULL,
        status_seq bigint NOT NULL
      )`);
    for (let after = 0; ; ) {
      const rows: Parameters<typeof runEventOfRow>[0][] = await q.query(
        `SELECT seq, run_id, type, decision_effect, outcome_status, error_code FROM audit_events
          WHERE seq > $1 AND run_id IS NOT NULL AND valid ORDER BY seq LIMIT $2`,
        [after, PAGE],
      );
      if (rows.length === 0) break;
      await projectRunStatuses(q, rows.map(runEventOfRow));
      after = Number(rows[rows.length - 1]?.seq);
    }
    await q.query('DROP VIEW audit_runs');
    await q.query(`
      CREATE VIEW audit_runs AS
      SELECT e.run_id,
             min(e.time) AS first_seen,
             max(e.time) AS last_seen,
             s.status,
             max(e.actor_user) AS actor_user,
             max(e.actor_agent) AS actor_agent,
             max(e.tool) AS tool,
             max(e.repository) AS repository,
             max(e.path) AS path,
             max(e.commit) AS commit,
             max(e.connection_name) AS connection_name,
             (array_agg(e.params ORDER BY e.seq) FILTER (WHERE e.params IS NOT NULL))[1] AS params,
             max(e.duration_ms) AS duration_ms
        FROM audit_events e
        LEFT JOIN audit_run_status s ON s.run_id = e.run_id
       WHERE e.run_id IS NOT NULL
       GROUP BY e.run_id, s.status`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP VIEW audit_runs');
    await q.query(`
      CREATE VIEW audit_runs AS
      SELECT run_id,
             min(time) AS first_seen,
             max(time) AS last_seen,
             (array_agg(outcome_status ORDER BY seq DESC) FILTER (WHERE outcome_status IS NOT NULL))[1] AS status,
             max(actor_user) AS actor_user,
             max(actor_agent) AS actor_agent,
             max(tool) AS tool,
             max(repository) AS repository,
             max(path) AS path,
             max(commit) AS commit,
             max(connection_name) AS connection_name,
             (array_agg(params ORDER BY seq) FILTER (WHERE params IS NOT NULL))[1] AS params,
             max(duration_ms) AS duration_ms
        FROM audit_events
       WHERE run_id IS NOT NULL
       GROUP BY run_id`);
    await q.query('DROP TABLE audit_run_status');
  }
}
