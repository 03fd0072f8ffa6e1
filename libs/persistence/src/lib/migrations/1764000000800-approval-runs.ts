import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Held runs (ADR 18 §2): a call a rule's `approval:` or a require_approval guardrail holds,
 * stored with exactly what will run (the rendered body, its hash, the commit, the connection,
 * the validated parameters) until a quorum approves it, one approver rejects it or its ttl
 * runs out. Every state change is one conditional UPDATE on the row, so two policy replicas
 * deciding at once give one quorum and one execution.
 */
export class ApprovalRuns1764000000800 implements MigrationInterface {
  name = 'ApprovalRuns1764000000800';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE approval_runs (
        run_id      text PRIMARY KEY,
        state       text NOT NULL CHECK (state IN ('pending', 'approved', 'executing', 'executed', 'failed', 'rejected', 'expired')),
        requester   jsonb NOT NULL,
        tool        text NOT NULL,
        runbook     jsonb NOT NULL,
        connection  jsonb NOT NULL,
        rule        text NOT NULL,
        body        text NOT NULL,
        body_sha256 text NOT NULL,
        params      jsonb NOT NULL,
        env         jsonb NOT NULL,
        execution   jsonb NOT NULL,
        approval    jsonb NOT NULL,
        decisions   jsonb NOT NULL DEFAULT '[]'::jsonb,
        outcome     jsonb,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now(),
        expires_at  timestamptz NOT NULL
      )`);
    // The sweep and the approvers' list read the open runs only.
    await q.query(`CREATE INDEX approval_runs_open ON approval_runs (state, expires_at) WHERE state IN ('pending', 'approved', 'executing')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE approval_runs');
  }
}
