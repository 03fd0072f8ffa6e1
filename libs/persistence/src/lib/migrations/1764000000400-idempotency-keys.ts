import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Policy binds each idempotency key (as the run id derived from user, tool and key) to a
 * keyed digest of the first allowed call's arguments, so a reuse with other arguments is an
 * IDEMPOTENCY_CONFLICT instead of a second parameter set under one run id.
 */
export class IdempotencyKeys1764000000400 implements MigrationInterface {
  name = 'IdempotencyKeys1764000000400';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE idempotency_keys (
        run_id      text PRIMARY KEY,
        args_digest text NOT NULL,
        key_id      text NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE idempotency_keys');
  }
}
