import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Agent tokens carry the permissions they were given explicitly (`audit:read`). Tokens made
 * before get none: an agent token made for an auditor no longer reads the audit trail until
 * one is made with `--scope audit:read` (issue 15).
 */
export class TokenScopes1764000000500 implements MigrationInterface {
  name = 'TokenScopes1764000000500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agent_tokens ADD COLUMN scopes jsonb NOT NULL DEFAULT '[]'::jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE agent_tokens DROP COLUMN scopes');
  }
}
