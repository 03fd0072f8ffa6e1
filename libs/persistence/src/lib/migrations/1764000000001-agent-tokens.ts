import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Agent tokens: only the sha256 of a token is stored; the token is shown once, at creation. */
export class AgentTokens1764000000001 implements MigrationInterface {
  name = 'AgentTokens1764000000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE agent_tokens (
        id                text PRIMARY KEY,
        sha256            text NOT NULL UNIQUE,
        user_name         text NOT NULL,
        agent             text NOT NULL,
        scope_runbooks    jsonb,
        scope_connections jsonb,
        created_at        timestamptz NOT NULL DEFAULT now(),
        expires_at        timestamptz NOT NULL,
        revoked_at        timestamptz
      )`);
    await q.query('CREATE INDEX agent_tokens_user ON agent_tokens (user_name)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE agent_tokens');
  }
}
