import { randomUUID } from 'node:crypto';
import { DatabaseIdempotencyKeys, openDatabase } from '@rungate/persistence';
import { createTestDatabase, type TestDatabase } from '@rungate/testing';
import type { DataSource } from 'typeorm';

/**
 * Two policy replicas over one database (each its own pool, as two processes would have):
 * a key reused with other arguments is refused however the calls race, and exactly one of
 * them binds it.
 */
describe('idempotency keys shared by policy replicas', () => {
  let database: TestDatabase;
  let first: DataSource;
  let second: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase('rgidem');
    first = await openDatabase(database.url);
    second = await openDatabase(database.url);
  });

  afterAll(async () => {
    await first?.destroy();
    await second?.destroy();
    await database?.drop();
  });

  it('binds a key once when two replicas race with different arguments', async () => {
    const replicas = [new DatabaseIdempotencyKeys(first), new DatabaseIdempotencyKeys(second)];
    for (let round = 0; round < 50; round++) {
      const runId = randomUUID();
      const results = await Promise.all(replicas.map((keys, i) => keys.bind(runId, `digest-${i}`, 'kid')));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok)).toEqual([{ ok: false, reason: 'other-arguments' }]);
    }
  });

  it('lets the same call through on every replica (the run ledger then refuses to run it twice)', async () => {
    const runId = randomUUID();
    const results = await Promise.all([new DatabaseIdempotencyKeys(first).bind(runId, 'same', 'kid'), new DatabaseIdempotencyKeys(second).bind(runId, 'same', 'kid')]);
    expect(results).toEqual([{ ok: true }, { ok: true }]);
  });

  it('cannot compare across a change of signing key, and says so', async () => {
    const runId = randomUUID();
    const keys = new DatabaseIdempotencyKeys(first);
    await keys.bind(runId, 'd', 'old-kid');
    await expect(keys.bind(runId, 'd', 'new-kid')).resolves.toEqual({ ok: false, reason: 'other-signing-key' });
  });

  it('forgets a binding after a day, as the run ledger forgets the run', async () => {
    const runId = randomUUID();
    const keys = new DatabaseIdempotencyKeys(first);
    await keys.bind(runId, 'd1', 'kid');
    await first.query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE run_id = $1", [runId]);
    await expect(keys.bind(runId, 'd2', 'kid')).resolves.toEqual({ ok: true });
    await expect(keys.bind(runId, 'd1', 'kid')).resolves.toEqual({ ok: false, reason: 'other-arguments' });
  });
});
