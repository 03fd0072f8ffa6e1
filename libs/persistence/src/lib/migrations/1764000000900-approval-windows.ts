import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Change windows (ADR 18 §1): an approved run held by a `window:` may start only in the slot
 * stored here, from `starts_at` until `window_ends_at`, on the database's clock. Both stay
 * NULL for a run without a window (it starts as soon as it is approved) and until the slot of
 * an approved one is computed.
 */
export class ApprovalWindows1764000000900 implements MigrationInterface {
  name = 'ApprovalWindows1764000000900';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE approval_runs ADD COLUMN starts_at timestamptz, ADD COLUMN window_ends_at timestamptz');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE approval_runs DROP COLUMN starts_at, DROP COLUMN window_ends_at');
  }
}
