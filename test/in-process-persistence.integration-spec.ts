import { createTestDatabase, type TestDatabase } from '@rungate/testing';
import { DatabaseRunLedger, LocalAuditLog, openDatabase, verifyStoredChain } from '@rungate/persistence';
import type { DataSource } from 'typeorm';

const event = (i: number) => ({ type: 'audit.run.received' as const, source: 'test', runId: `run-${i}`, params: { i: String(i) } });

/**
 * The all-in-one mode's audit log and run ledger on PostgreSQL (DATABASE_URL). On the embedded
 * PGlite they run in test/serve.e2e-spec.ts, in a real process: PGlite loads its WASM with a
 * dynamic import() that jest's module system cannot serve.
 */
describe('in-process audit log and run ledger', () => {
  let db: DataSource;
  let pg: TestDatabase | undefined;

  async function open(): Promise<DataSource> {
    return openDatabase((pg as TestDatabase).url);
  }

  beforeAll(async () => {
    pg = await createTestDatabase('rg_inproc');
    db = await open();
  });

  afterAll(async () => {
    await db?.destroy();
    await pg?.drop();
  });

  it('stores concurrent publishes once each, in one verifiable chain, before publish resolves', async () => {
    const log = new LocalAuditLog(db);
    const stored = await Promise.all(Array.from({ length: 40 }, (_, i) => log.publish(event(i))));
    // Write-ahead: every resolved publish is already a row.
    const rows: { n: string }[] = await db.query('SELECT count(*) AS n FROM audit_events');
    expect(Number(rows[0]?.n)).toBe(40);
    // A re-published event (a retry after a lost answer) is not stored twice.
    await log.publish({ ...event(0), id: stored[0]?.id });
    const verification = await verifyStoredChain(db);
    expect(verification).toMatchObject({ ok: true, rows: 40 });
    const runIds: { run_id: string }[] = await db.query('SELECT run_id FROM audit_events ORDER BY seq');
    expect(new Set(runIds.map((r) => r.run_id)).size).toBe(40);
  });

  it('continues the chain after the database is reopened', async () => {
    await db.destroy();
    db = await open();
    await new LocalAuditLog(db).publish(event(100));
    expect(await verifyStoredChain(db)).toMatchObject({ ok: true, rows: 41 });
  });

  it('claims a run id once; the second claim is a replay', async () => {
    const ledger = new DatabaseRunLedger(db);
    await ledger.claim('run-a', 'replica-1');
    await expect(ledger.claim('run-a', 'replica-2')).rejects.toMatchObject({ code: 'TICKET_REPLAYED' });
    await expect(ledger.claim("bad id'; --", 'replica-1')).rejects.toMatchObject({ code: 'TICKET_INVALID' });
  });
});
