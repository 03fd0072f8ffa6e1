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

  it('group commit: publishes and claims made together share transactions, each resolving only once its row is committed', async () => {
    const log = new LocalAuditLog(db);
    const ledger = log.runLedger();
    const before: { n: string }[] = await db.query('SELECT count(*) AS n FROM audit_events');
    const seen: string[] = [];
    log.onEvent((e) => seen.push(e.id));
    // Each publish checks, as it resolves, that its row is visible to another connection: committed.
    const published = Array.from({ length: 200 }, (_, i) =>
      log.publish(event(1000 + i)).then(async (stored) => {
        const rows: { n: string }[] = await db.query('SELECT count(*) AS n FROM audit_events WHERE id = $1', [stored.id]);
        return { stored, committed: Number(rows[0]?.n) };
      }),
    );
    const claims = Array.from({ length: 50 }, (_, i) =>
      ledger.claim(`group-${i}`, 'replica-1').then(async () => {
        const rows: { n: string }[] = await db.query('SELECT count(*) AS n FROM run_claims WHERE run_id = $1', [`group-${i}`]);
        return Number(rows[0]?.n);
      }),
    );
    const results = await Promise.all(published);
    expect(results.every((r) => r.committed === 1)).toBe(true);
    expect(await Promise.all(claims)).toEqual(Array(50).fill(1));
    // No event lost or doubled, heard once each in chain order, and the chain verifies.
    const rows: { id: string }[] = await db.query('SELECT id FROM audit_events ORDER BY seq OFFSET $1', [Number(before[0]?.n)]);
    expect(rows.map((r) => r.id)).toEqual(results.map((r) => r.stored.id));
    expect(seen).toEqual(results.map((r) => r.stored.id));
    expect(await verifyStoredChain(db)).toMatchObject({ ok: true, rows: Number(before[0]?.n) + 200 });
    // Far fewer transactions than events: rows written by one transaction share its xmin.
    const transactions: { n: string }[] = await db.query(`SELECT count(DISTINCT xmin::text) AS n FROM audit_events WHERE run_id LIKE 'run-1___'`);
    expect(Number(transactions[0]?.n)).toBeLessThan(20);
  });

  it('group commit: a replayed claim fails alone, and a failed commit fails every publish and claim in it', async () => {
    const log = new LocalAuditLog(db);
    const ledger = log.runLedger();
    await ledger.claim('replayed-1', 'replica-1');
    // In one batch: a replay of a stored claim, the same new run id twice, and an event.
    const outcomes = await Promise.allSettled([ledger.claim('replayed-1', 'replica-2'), ledger.claim('twice-1', 'replica-1'), ledger.claim('twice-1', 'replica-2'), log.publish(event(2000))]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'TICKET_REPLAYED' });
    expect((outcomes[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'TICKET_REPLAYED' });
    const holders: { holder: string }[] = await db.query(`SELECT holder FROM run_claims WHERE run_id IN ('replayed-1', 'twice-1') ORDER BY run_id`);
    expect(holders.map((h) => h.holder)).toEqual(['replica-1', 'replica-1']);

    // A database that fails: nothing of the batch is stored, and every caller hears so.
    const count = async () => Number(((await db.query('SELECT count(*) AS n FROM audit_events')) as { n: string }[])[0]?.n);
    const stored = await count();
    const broken = await open();
    const failing = new LocalAuditLog(broken);
    await failing.publish(event(3000));
    await broken.destroy();
    const failed = await Promise.allSettled([failing.publish(event(3001)), failing.publish(event(3002)), failing.runLedger().claim('never-1', 'replica-1')]);
    expect(failed.map((o) => (o.status === 'rejected' ? (o.reason as { code: string }).code : 'stored'))).toEqual(['AUDIT_UNAVAILABLE', 'AUDIT_UNAVAILABLE', 'SERVICE_UNAVAILABLE']);
    expect(await count()).toBe(stored + 1);
    const never: unknown[] = await db.query(`SELECT 1 FROM run_claims WHERE run_id = 'never-1'`);
    expect(never).toHaveLength(0);
    expect(await verifyStoredChain(db)).toMatchObject({ ok: true });
  });

  it('claims a run and stores its started event in one commit, the event only with a new claim', async () => {
    const log = new LocalAuditLog(db);
    const ledger = log.runLedger();
    const started = (runId: string, executor: string) => ({ type: 'audit.run.started' as const, source: 'test', runId, details: { executor } });
    const claimAndStart = ledger.claimAndRecordStart?.bind(ledger);
    if (!claimAndStart) throw new Error('the embedded ledger records started with the claim');
    // On PostgreSQL others may claim too (DATABASE_URL): every claim waits for its commit.
    expect(ledger.claimAhead).toBeUndefined();
    // A new run, the same run again in the same batch (a replay racing it), and one claimed before.
    await ledger.claim('started-old', 'replica-1');
    const outcomes = await Promise.allSettled([
      claimAndStart('started-new', 'replica-1', started('started-new', 'replica-1')),
      claimAndStart('started-new', 'replica-2', started('started-new', 'replica-2')),
      claimAndStart('started-old', 'replica-2', started('started-old', 'replica-2')),
    ]);
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as { code: string }).code : 'claimed'))).toEqual(['claimed', 'TICKET_REPLAYED', 'TICKET_REPLAYED']);
    const rows: { run_id: string; executor: string; xmin: string }[] = await db.query(
      `SELECT run_id, event->'details'->>'executor' AS executor, xmin::text FROM audit_events WHERE run_id IN ('started-new', 'started-old') ORDER BY seq`,
    );
    expect(rows.map((r) => [r.run_id, r.executor])).toEqual([['started-new', 'replica-1']]);
    const claim: { holder: string; xmin: string }[] = await db.query(`SELECT holder, xmin::text FROM run_claims WHERE run_id = 'started-new'`);
    // Same transaction: the claim and the event commit together or not at all.
    expect(claim).toEqual([{ holder: 'replica-1', xmin: rows[0]?.xmin }]);
    expect(await verifyStoredChain(db)).toMatchObject({ ok: true });
  });

  it('a sole writer chains without the append lock; another writer appending anyway gets the batch refused, never a fork', async () => {
    const log = new LocalAuditLog(db, { soleWriter: true });
    await log.publish(event(4000));
    const before: { n: string }[] = await db.query('SELECT count(*) AS n FROM audit_events');
    // Another writer (which soleWriter promises there is not) moves the head under it.
    await new LocalAuditLog(db).publish(event(4001));
    await expect(log.publish(event(4002))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    // Nothing of the refused batch was stored; the next commit reloads the head and goes on.
    await log.publish(event(4003));
    const rows: { run_id: string }[] = await db.query('SELECT run_id FROM audit_events ORDER BY seq OFFSET $1', [Number(before[0]?.n)]);
    expect(rows.map((r) => r.run_id)).toEqual(['run-4001', 'run-4003']);
    expect(await verifyStoredChain(db)).toMatchObject({ ok: true });
  });

  it('claims a run id once; the second claim is a replay', async () => {
    const ledger = new DatabaseRunLedger(db);
    await ledger.claim('run-a', 'replica-1');
    await expect(ledger.claim('run-a', 'replica-2')).rejects.toMatchObject({ code: 'TICKET_REPLAYED' });
    await expect(ledger.claim("bad id'; --", 'replica-1')).rejects.toMatchObject({ code: 'TICKET_INVALID' });
  });
});
