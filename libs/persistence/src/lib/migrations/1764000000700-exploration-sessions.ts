import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Exploration sessions (ADR 19) are read by `details.session` of their events: decisions,
 * executor events and reviews. An expression index keeps a session's transcript and its
 * reviews one index scan away; only events that name a session are in it.
 */
export class ExplorationSessions1764000000700 implements MigrationInterface {
  name = 'ExplorationSessions1764000000700';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX audit_events_session ON audit_events ((event #>> '{details,session}'), type) WHERE (event #>> '{details,session}') IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX audit_events_session');
  }
}
