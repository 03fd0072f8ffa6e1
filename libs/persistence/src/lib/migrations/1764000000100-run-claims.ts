import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The run ledger of the all-in-one mode (the distributed mode keeps it in a JetStream KV
 * bucket): a run id is claimed by inserting it, so a replayed ticket finds it taken.
 */
export class RunClaims1764000000100 implements MigrationInterface {
  name = 'RunClaims1764000000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE run_claims (
        run_id     text PRIMARY KEY,
        holder     text NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX run_claims_claimed_at ON run_claims (claimed_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE run_claims');
  }
}
