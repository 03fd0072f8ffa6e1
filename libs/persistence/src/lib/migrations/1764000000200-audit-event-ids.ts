import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An event id is unique on the stream only within JetStream's duplicate window; after it, a
 * publisher may legitimately send an id again (policy derives config-change ids from the
 * configuration, so reverting a change repeats one). A UNIQUE constraint would then refuse
 * the row and hold up every later event; the stream sequence (the primary key) is what
 * makes a row exactly-once.
 */
export class AuditEventIds1764000000200 implements MigrationInterface {
  name = 'AuditEventIds1764000000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE audit_events DROP CONSTRAINT audit_events_id_key');
    await q.query('CREATE INDEX audit_events_id ON audit_events (id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX audit_events_id');
    await q.query('ALTER TABLE audit_events ADD CONSTRAINT audit_events_id_key UNIQUE (id)');
  }
}
