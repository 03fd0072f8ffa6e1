import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditStore, LocalAuditLog, openEmbeddedDatabase, verifyStoredChain } from '@rungate/persistence';
import { RunPipeline } from '@rungate/executors';
import type { RunLedger } from '@rungate/messaging';
import { generateTicketKeyPair, signingKeyFromPem, verifyKeyFromPem } from '@rungate/tickets';
import { signedRequest, testClaims } from '@rungate/testing';
import type { DataSource } from 'typeorm';

const received = (runId: string) => ({ type: 'audit.run.received' as const, source: 'test', runId, params: { runId } });
const started = (runId: string, executor: string) => ({ type: 'audit.run.started' as const, source: 'test', runId, details: { executor } });
const count = async (db: DataSource, sql: string, params: unknown[] = []) => Number(((await db.query(sql, params)) as { n: string }[])[0]?.n);

/**
 * `rungate serve`'s audit log on the embedded database itself (PGlite in its worker thread):
 * each commit is one message to the thread and one statement there, a function of the session
 * that checks what the log assumed before it writes (issue 19, ADR 20).
 * test/in-process-persistence.integration-spec.ts covers the same log on PostgreSQL.
 */
describe('the audit log on the embedded database (one message per commit)', () => {
  let db: DataSource;
  let log: LocalAuditLog;

  beforeAll(async () => {
    db = await openEmbeddedDatabase(undefined);
    log = new LocalAuditLog(db, { soleWriter: true });
  });

  afterAll(async () => {
    await db?.destroy();
  });

  it('commits publishes and claims together, each resolving once committed, with no other query inside the transaction', async () => {
    const ledger = log.runLedger();
    const claimAndStart = ledger.claimAndRecordStart?.bind(ledger);
    if (!claimAndStart) throw new Error('the embedded ledger records started with the claim');
    // Queries of other services share the thread's one session: none may run inside the log's transaction.
    let probing = true;
    const inTransaction: unknown[] = [];
    const probe = (async () => {
      while (probing) {
        const rows: { xid: unknown }[] = await db.query('SELECT txid_current_if_assigned() AS xid');
        if (rows[0]?.xid !== null) inTransaction.push(rows[0]?.xid);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const published = Array.from({ length: 150 }, (_, i) =>
      log.publish(received(`emb-${i}`)).then(async (stored) => ({ stored, committed: await count(db, 'SELECT count(*) AS n FROM audit_events WHERE id = $1', [stored.id]) })),
    );
    const claims = Array.from({ length: 30 }, (_, i) =>
      claimAndStart(`emb-${i}`, 'replica-1', started(`emb-${i}`, 'replica-1')).then(() => count(db, 'SELECT count(*) AS n FROM run_claims WHERE run_id = $1', [`emb-${i}`])),
    );
    const results = await Promise.all(published);
    expect(await Promise.all(claims)).toEqual(Array(30).fill(1));
    probing = false;
    await probe;
    expect(inTransaction).toEqual([]);
    expect(results.every((r) => r.committed === 1)).toBe(true);
    expect(await count(db, `SELECT count(*) AS n FROM audit_events WHERE run_id LIKE 'emb-%'`)).toBe(180);
    // Group commit still: far fewer transactions than events.
    expect(await count(db, `SELECT count(DISTINCT xmin::text) AS n FROM audit_events WHERE run_id LIKE 'emb-%'`)).toBeLessThan(30);
    // The projection: a run with received and started is started; one with received alone is received.
    const statuses: { run_id: string; status: string }[] = await db.query(`SELECT run_id, status FROM audit_run_status WHERE run_id IN ('emb-0', 'emb-149') ORDER BY run_id`);
    expect(statuses).toEqual([
      { run_id: 'emb-0', status: 'started' },
      { run_id: 'emb-149', status: 'received' },
    ]);
    expect(await verifyStoredChain(db)).toMatchObject({ ok: true, rows: 180 });
  });

  it('a replayed claim in a commit fails alone: nothing of the commit is stored, and it runs again with the new claims only', async () => {
    const ledger = log.runLedger();
    const claimAndStart = ledger.claimAndRecordStart?.bind(ledger);
    if (!claimAndStart) throw new Error('the embedded ledger records started with the claim');
    await ledger.claim('emb-old', 'replica-1');
    const before = await count(db, 'SELECT count(*) AS n FROM audit_events');
    const outcomes = await Promise.allSettled([
      claimAndStart('emb-new', 'replica-1', started('emb-new', 'replica-1')),
      claimAndStart('emb-old', 'replica-2', started('emb-old', 'replica-2')),
      claimAndStart('emb-new', 'replica-2', started('emb-new', 'replica-2')),
      log.publish(received('emb-other')),
    ]);
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as { code: string }).code : 'ok'))).toEqual(['ok', 'TICKET_REPLAYED', 'TICKET_REPLAYED', 'ok']);
    const rows: { run_id: string; executor: string | null; xmin: string }[] = await db.query(
      `SELECT run_id, event->'details'->>'executor' AS executor, xmin::text FROM audit_events WHERE seq > $1 ORDER BY seq`,
      [before],
    );
    expect(rows.map((r) => [r.run_id, r.executor])).toEqual([
      ['emb-new', 'replica-1'],
      ['emb-other', null],
    ]);
    const claims: { run_id: string; holder: string; xmin: string }[] = await db.query(`SELECT run_id, holder, xmin::text FROM run_claims WHERE run_id IN ('emb-new', 'emb-old') ORDER BY run_id`);
    expect(claims.map((c) => [c.run_id, c.holder])).toEqual([
      ['emb-new', 'replica-1'],
      ['emb-old', 'replica-1'],
    ]);
    // The new claim and its started event committed together.
    expect(claims[0]?.xmin).toBe(rows[0]?.xmin);
    expect(await verifyStoredChain(db)).toMatchObject({ ok: true });
  });

  it('a run whose status the log does not know is read, not assumed: the commit runs again with what was stored', async () => {
    // A status the log did not write itself (as after a restart, or of a run older than it remembers).
    await db.query(`INSERT INTO audit_run_status (run_id, status, status_seq) VALUES ('emb-stored', 'started', 1)`);
    await Promise.all([log.publish(received('emb-stored')), log.publish(received('emb-fresh'))]);
    const statuses: { run_id: string; status: string }[] = await db.query(`SELECT run_id, status FROM audit_run_status WHERE run_id IN ('emb-stored', 'emb-fresh') ORDER BY run_id`);
    // received does not move a started run back; the fresh run, with no row, is received.
    expect(statuses).toEqual([
      { run_id: 'emb-fresh', status: 'received' },
      { run_id: 'emb-stored', status: 'started' },
    ]);
    expect(await verifyStoredChain(db)).toMatchObject({ ok: true });
  });

  it('a commit the database refuses stores nothing of it and refuses every publish and claim in it; the next one chains on', async () => {
    const ledger = log.runLedger();
    const claimAndStart = ledger.claimAndRecordStart?.bind(ledger);
    if (!claimAndStart) throw new Error('the embedded ledger records started with the claim');
    await log.publish(received('emb-before'));
    // Another writer appends after all (a sole writer should be alone): the log's next row takes a seq already stored.
    const head = await new AuditStore(db).loadHead();
    await new AuditStore(db).append([{ seq: head.seq + 1, subject: 'audit.run.received', data: 'not an event' }]);
    const outcomes = await Promise.allSettled([log.publish(received('emb-refused')), claimAndStart('emb-refused-run', 'replica-1', started('emb-refused-run', 'replica-1'))]);
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as { code: string }).code : 'ok'))).toEqual(['AUDIT_UNAVAILABLE', 'SERVICE_UNAVAILABLE']);
    expect(await count(db, `SELECT count(*) AS n FROM audit_events WHERE run_id IN ('emb-refused', 'emb-refused-run')`)).toBe(0);
    expect(await count(db, `SELECT count(*) AS n FROM run_claims WHERE run_id = 'emb-refused-run'`)).toBe(0);
    // Refused, not taken: the same run id claims now, on the reloaded head.
    await claimAndStart('emb-refused-run', 'replica-1', started('emb-refused-run', 'replica-1'));
    expect(await count(db, `SELECT count(*) AS n FROM audit_events WHERE run_id = 'emb-refused-run'`)).toBe(1);
    expect(await verifyStoredChain(db)).toMatchObject({ ok: true });
  });
});

describe('trailing events on the embedded log (a run\'s outcome, after its reply)', () => {
  it('a trailing event waits for what is published next and shares its commit, in publication order; alone it is stored soon after', async () => {
    const completed = (runId: string) => ({ type: 'audit.run.completed' as const, source: 'test', runId, outcome: { status: 'succeeded' as const } });
    const db = await openEmbeddedDatabase(undefined);
    // A wait long enough that only what comes next can end it (the default is TRAILING_WAIT_MS).
    const patient = new LocalAuditLog(db, { soleWriter: true, trailingWaitMs: 60_000 });
    const trailing = patient.publish(completed('emb-trail-1'), { trailing: true });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await count(db, `SELECT count(*) AS n FROM audit_events WHERE run_id = 'emb-trail-1'`)).toBe(0);
    const next = patient.publish(received('emb-trail-2'));
    await Promise.all([trailing, next]);
    const rows: { run_id: string; seq: string; xmin: string }[] = await db.query(`SELECT run_id, seq, xmin::text FROM audit_events WHERE run_id IN ('emb-trail-1', 'emb-trail-2') ORDER BY seq`);
    expect(rows.map((r) => r.run_id)).toEqual(['emb-trail-1', 'emb-trail-2']);
    expect(rows[0]?.xmin).toBe(rows[1]?.xmin);
    // Ahead of a claim too: the claim's started follows it in the same commit.
    const before = patient.publish(completed('emb-trail-3'), { trailing: true });
    await patient.runLedger().claimAndRecordStart?.('emb-trail-4', 'replica-1', started('emb-trail-4', 'replica-1'));
    await before;
    const claimed: { run_id: string; xmin: string }[] = await db.query(`SELECT run_id, xmin::text FROM audit_events WHERE run_id IN ('emb-trail-3', 'emb-trail-4') ORDER BY seq`);
    expect(claimed.map((r) => r.run_id)).toEqual(['emb-trail-3', 'emb-trail-4']);
    expect(claimed[0]?.xmin).toBe(claimed[1]?.xmin);
    // Nothing after it: stored all the same, after the default wait (a log of its own, the patient one done).
    await new LocalAuditLog(db, { soleWriter: true }).publish(completed('emb-trail-5'), { trailing: true });
    expect(await count(db, `SELECT count(*) AS n FROM audit_events WHERE run_id = 'emb-trail-5'`)).toBe(1);
    expect(await verifyStoredChain(db)).toMatchObject({ ok: true });
    await db.destroy();
  });

});

describe('the audit log when the embedded database thread ends', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rg-embedded-audit-'));

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every publish that resolved is stored; every later one is refused with AUDIT_UNAVAILABLE', async () => {
    const db = await openEmbeddedDatabase(dir);
    const log = new LocalAuditLog(db, { soleWriter: true });
    await log.publish(received('end-0'));
    const inFlight = Array.from({ length: 50 }, (_, i) => log.publish(received(`end-${i + 1}`)));
    // The thread ends while a commit is in flight (sent at the next turn) and more wait for their turn.
    await new Promise((resolve) => setImmediate(resolve));
    const closed = db.destroy();
    const later = Array.from({ length: 20 }, (_, i) => log.publish(received(`late-${i}`)));
    const outcomes = await Promise.allSettled([...inFlight, ...later]);
    await closed;
    const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason as { code: string });
    expect(refused.every((reason) => reason.code === 'AUDIT_UNAVAILABLE')).toBe(true);
    expect(outcomes.slice(50).every((o) => o.status === 'rejected')).toBe(true);
    const resolved = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.id] : []));

    const reopened = await openEmbeddedDatabase(dir);
    try {
      const ids: { id: string }[] = await reopened.query('SELECT id FROM audit_events');
      const stored = new Set(ids.map((r) => r.id));
      expect(resolved.every((id) => stored.has(id))).toBe(true);
      expect(await verifyStoredChain(reopened)).toMatchObject({ ok: true });
    } finally {
      await reopened.destroy();
    }
  });
});

describe('claims taken ahead on the embedded database (ADR 20)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rg-claim-ahead-'));
  let db: DataSource;
  let log: LocalAuditLog;
  const second = () => Math.floor(Date.now() / 1000);
  /** A ticket issued now (by this process's policy, as in `rungate serve`). */
  const issuedNow = () => ({ iat: second(), exp: second() + 30 });

  async function open(): Promise<void> {
    db = await openEmbeddedDatabase(dir);
    log = new LocalAuditLog(db, { soleWriter: true });
    // Tickets issued in the second the log opened wait for their commit: start past it.
    const opened = second();
    while (second() === opened) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  function aheadOf(ledger: RunLedger) {
    const claimAhead = ledger.claimAhead?.bind(ledger);
    if (!claimAhead) throw new Error('the embedded ledger claims ahead');
    return claimAhead;
  }

  beforeAll(open);

  afterAll(async () => {
    await db?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('claims at once: a replay is refused before the commit, and the claim and started commit together after', async () => {
    const ledger = log.runLedger();
    const claimAhead = aheadOf(ledger);
    const ahead = claimAhead('ahead-1', 'replica-1', started('ahead-1', 'replica-1'), issuedNow());
    if (!ahead) throw new Error('a ticket issued after the log opened is claimed ahead');
    expect(() => claimAhead('ahead-1', 'replica-2', started('ahead-1', 'replica-2'), issuedNow())).toThrow(expect.objectContaining({ code: 'TICKET_REPLAYED' }));
    await expect(ledger.claimAndRecordStart?.('ahead-1', 'replica-2', started('ahead-1', 'replica-2'))).rejects.toMatchObject({ code: 'TICKET_REPLAYED' });
    expect(await count(db, `SELECT count(*) AS n FROM run_claims WHERE run_id = 'ahead-1'`)).toBe(0);
    await ahead.recorded;
    const claim: { holder: string; xmin: string }[] = await db.query(`SELECT holder, xmin::text FROM run_claims WHERE run_id = 'ahead-1'`);
    const events: { executor: string; xmin: string }[] = await db.query(`SELECT event->'details'->>'executor' AS executor, xmin::text FROM audit_events WHERE run_id = 'ahead-1'`);
    expect(events).toEqual([{ executor: 'replica-1', xmin: claim[0]?.xmin }]);
    expect(claim[0]?.holder).toBe('replica-1');
    expect(await verifyStoredChain(db)).toMatchObject({ ok: true });
  });

  it('a ticket issued before the log opened, in its second, or ahead of its clock waits for its commit; after a restart the database refuses a run claimed before', async () => {
    const claimAhead = aheadOf(log.runLedger());
    expect(claimAhead('ahead-old', 'replica-1', started('ahead-old', 'replica-1'), { iat: second() - 5, exp: second() + 25 })).toBeUndefined();
    expect(claimAhead('ahead-future', 'replica-1', started('ahead-future', 'replica-1'), { iat: second() + 2, exp: second() + 30 })).toBeUndefined();
    const ticket = issuedNow();
    await claimAhead('ahead-restart', 'replica-1', started('ahead-restart', 'replica-1'), ticket)?.recorded;
    await db.destroy();
    // The same ticket, presented to the process after: issued before its log opened, so the database decides.
    db = await openEmbeddedDatabase(dir);
    log = new LocalAuditLog(db, { soleWriter: true });
    const ledger = log.runLedger();
    expect(aheadOf(ledger)('ahead-restart', 'replica-2', started('ahead-restart', 'replica-2'), ticket)).toBeUndefined();
    await expect(ledger.claimAndRecordStart?.('ahead-restart', 'replica-2', started('ahead-restart', 'replica-2'))).rejects.toMatchObject({ code: 'TICKET_REPLAYED' });
    expect(await count(db, `SELECT count(*) AS n FROM audit_events WHERE run_id = 'ahead-restart'`)).toBe(1);
    await db.destroy();
    await open();
  });

  it('two executors on the log race one ticket: it runs once, and the chain holds its started before its outcome', async () => {
    const keys = generateTicketKeyPair();
    const body = 'UPDATE notes SET body = $1';
    const claims = testClaims(body, { path: 'notes/set.runbook.sql', connection: { name: 'app-db', type: 'postgres' }, groups: ['eng'], rule: 'notes', params: { body: 'x' } });
    const payload = signedRequest(claims, body, signingKeyFromPem(keys.privatePem));
    const ran: string[] = [];
    const ledger = log.runLedger();
    const executor = (replica: string) =>
      new RunPipeline<'postgres', string>({
        source: 'executor-postgres',
        replica,
        adapter: {
          type: 'postgres',
          prepare: () => replica,
          run: async (prepared) => {
            ran.push(prepared);
            return { kind: 'sql', columns: [], rows: [], rowCount: 1, statements: [{ command: 'UPDATE', rowCount: 1 }], truncated: false };
          },
          cancel: async () => undefined,
          close: async () => undefined,
        },
        verifyKeys: () => [verifyKeyFromPem(keys.publicPem)],
        connections: () => [{ name: 'app-db', type: 'postgres', url: 'env:UNUSED', pool: { max: 1 }, maxRows: 10, maxBytes: 10_000 }],
        ledger,
        audit: log,
      });
    const replicas = [executor('replica-1'), executor('replica-2')];
    const claimedAhead = jest.spyOn(ledger as Required<RunLedger>, 'claimAhead');
    const outcomes = await Promise.allSettled(replicas.map((replica) => replica.execute(payload)));
    await Promise.all(replicas.map((replica) => replica.recorded()));
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as { code: string }).code : o.value.status)).sort()).toEqual(['TICKET_REPLAYED', 'succeeded']);
    expect(ran).toHaveLength(1);
    // The winner's claim was taken ahead; the loser's was refused by it, before any commit.
    expect(claimedAhead.mock.results.map((r) => r.type)).toEqual(['return', 'throw']);
    expect(claimedAhead.mock.results[0]?.value).toEqual({ recorded: expect.any(Promise) });
    const events: { type: string; executor: string; status: string | null }[] = await db.query(
      `SELECT type, event->'details'->>'executor' AS executor, event->'outcome'->>'status' AS status FROM audit_events WHERE run_id = $1 ORDER BY seq`,
      [claims.runId],
    );
    const winner = ran[0];
    expect(events.filter((e) => e.executor === winner).map((e) => [e.type, e.status])).toEqual([
      ['audit.run.started', null],
      ['audit.run.completed', 'succeeded'],
    ]);
    expect(events.filter((e) => e.executor !== winner).map((e) => [e.type, e.status])).toEqual([['audit.run.failed', 'refused']]);
    expect(await count(db, 'SELECT count(*) AS n FROM run_claims WHERE run_id = $1', [claims.runId])).toBe(1);
    expect(await verifyStoredChain(db)).toMatchObject({ ok: true });
  });

  it('after a commit fails every claim waits for its commit, until one succeeds; a run claimed ahead whose commit failed stays taken', async () => {
    const ledger = log.runLedger();
    const claimAhead = aheadOf(ledger);
    await log.publish(received('ahead-before'));
    // Another writer appends after all: the log's next commit collides and stores nothing.
    const head = await new AuditStore(db).loadHead();
    await new AuditStore(db).append([{ seq: head.seq + 1, subject: 'audit.run.received', data: 'not an event' }]);
    const failed = claimAhead('ahead-failed', 'replica-1', started('ahead-failed', 'replica-1'), issuedNow());
    await expect(failed?.recorded).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(claimAhead('ahead-next', 'replica-1', started('ahead-next', 'replica-1'), issuedNow())).toBeUndefined();
    // Not on the record, but it may have run: taken all the same.
    await expect(ledger.claimAndRecordStart?.('ahead-failed', 'replica-1', started('ahead-failed', 'replica-1'))).rejects.toMatchObject({ code: 'TICKET_REPLAYED' });
    await ledger.claimAndRecordStart?.('ahead-next', 'replica-1', started('ahead-next', 'replica-1'));
    const again = claimAhead('ahead-again', 'replica-1', started('ahead-again', 'replica-1'), issuedNow());
    expect(again).toBeDefined();
    await again?.recorded;
    expect(await count(db, `SELECT count(*) AS n FROM run_claims WHERE run_id IN ('ahead-failed', 'ahead-next', 'ahead-again')`)).toBe(2);
  });
});
