import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit table is append-only: a trigger refuses UPDATE, DELETE and TRUNCATE for every
 * role that does not first disable triggers (only a superuser or the owner can), and no
 * privilege but INSERT and SELECT is granted to anyone else.
 */
export class AuditEvents1764000000000 implements MigrationInterface {
  name = 'AuditEvents1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_events (
        seq             bigint PRIMARY KEY,
        id              text NOT NULL UNIQUE,
        time            timestamptz NOT NULL,
        type            text NOT NULL,
        valid           boolean NOT NULL DEFAULT true,
        source          text,
        run_id          text,
        actor_user      text,
        actor_agent     text,
        actor_token_id  text,
        actor_groups    jsonb,
        actor_ip        text,
        tool            text,
        repository      text,
        path            text,
        commit          text,
        runbook_sha256  text,
        connection_name text,
        connection_type text,
        params          jsonb,
        decision_effect text,
        decision_rule   text,
        decision_reason text,
        outcome_status  text,
        error_code      text,
        exit_code       integer,
        duration_ms     double precision,
        rows            bigint,
        bytes           bigint,
        truncated       boolean,
        output_sha256   text,
        event           jsonb NOT NULL,
        prev_hash       text NOT NULL,
        hash            text NOT NULL UNIQUE
      )`);
    await q.query('CREATE INDEX audit_events_run_id ON audit_events (run_id)');
    await q.query('CREATE INDEX audit_events_actor_user ON audit_events (actor_user, time)');
    await q.query('CREATE INDEX audit_events_time ON audit_events (time)');
    await q.query(`
      CREATE FUNCTION rungate_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP;
      END $$`);
    await q.query(`CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
                   FOR EACH ROW EXECUTE FUNCTION rungate_audit_append_only()`);
    await q.query(`CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
                   FOR EACH STATEMENT EXECUTE FUNCTION rungate_audit_append_only()`);
    await q.query('REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC');
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
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP VIEW audit_runs');
    await q.query('DROP TABLE audit_events');
    await q.query('DROP FUNCTION rungate_audit_append_only');
  }
}
