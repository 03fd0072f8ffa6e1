import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A stored token is an agent's unless made with `rungate token create --human` (or as the web
 * console's sign-in): only a human's own token may approve a held run (ADR 18 §3). Tokens made
 * before are agents' tokens, as they always were.
 */
export class HumanTokens1764000000850 implements MigrationInterface {
  name = 'HumanTokens1764000000850';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE agent_tokens ADD COLUMN human boolean NOT NULL DEFAULT false');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE agent_tokens DROP COLUMN human');
  }
}
