import { randomUUID } from 'node:crypto';
import { completeAuditEvent } from '@rungate/messaging';
import { AUDIT_TEXT_MARK, decodeAuditStrings, decodeAuditText } from '@rungate/audit-chain';
import { AuditStore, MIGRATIONS, chainedContent, openDatabase, searchAuditEvents, verifyStoredChain, type StreamedEvent } from '@rungate/persistence';
import { createTestDatabase, type TestDatabase } from '@rungate/testing';
import type { DataSource } from 'typeorm';

function message(seq: number, data: string, subject = 'audit.run.completed'): StreamedEvent {
  return { seq, subject, data };
}

function completed(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...completeAuditEvent({ type: 'audit.run.completed', source: 'test', runId: randomUUID(), outcome: { status: 'succeeded' } }), ...extra });
}

/**
 * The chain writer's core against PostgreSQL: whatever a publisher put on the stream is
 * stored and chained, never a reason to stop (one message that cannot be written would hold
 * up every later event), and two writers can never fork the chain.
 */
describe('AuditStore', () => {
  let database: TestDatabase;
  let db: DataSource;

  beforeEach(async () => {
    database = await createTestDatabase('rgstore');
    db = await openDatabase(database.url);
  });

  afterEach(async () => {
    await db.destroy();
    await database.drop();
  });

  async function rows(): Promise<{ seq: string; valid: boolean; type: string; id: string; exit_code: number | null; time: Date }[]> {
    return db.query('SELECT seq, valid, type, id, exit_code, time FROM audit_events ORDER BY seq');
  }

  it('stores an event holding what PostgreSQL cannot (NUL, lone surrogates) as a valid event, its text in the audit encoding', async () => {
    const store = new AuditStore(db);
    // As an older publisher wrote them: raw text, not yet encoded.
    const withNul = completed({ params: { note: 'a\u0000b' } });
    const withSurrogate = completed({ params: { note: 'x\ud800y' }, actor: { user: 'u\udc00', groups: [] } });
    const rawNul = `{"v":1,"broken\u0000`;
    const escapedBackslash = completed({ params: { path: 'C:\\u0000dir' } });
    await store.append([message(1, withNul), message(2, withSurrogate), message(3, rawNul), message(4, escapedBackslash), message(5, completed())]);
    const stored = await rows();
    expect(stored.map((r) => [Number(r.seq), r.valid])).toEqual([
      [1, true],
      [2, true],
      [3, false],
      [4, true],
      [5, true],
    ]);
    const events = (await db.query('SELECT event, actor_user, run_id FROM audit_events ORDER BY seq')) as { event: Record<string, unknown>; actor_user: string | null; run_id: string | null }[];
    expect(events[0]?.event['params']).toEqual({ note: `${AUDIT_TEXT_MARK}a\\u0000b` });
    expect(decodeAuditStrings(events[1]?.event)).toMatchObject({ params: { note: 'x\ud800y' }, actor: { user: 'u\udc00' } });
    expect(events[1]).toMatchObject({ actor_user: `${AUDIT_TEXT_MARK}u\\udc00`, run_id: JSON.parse(withSurrogate).runId });
    // Not JSON at all: kept as its subject and raw text, the NUL encoded rather than lost.
    expect(events[2]?.event).toEqual({ invalid: true, subject: 'audit.run.completed', raw: `${AUDIT_TEXT_MARK}{\\"v\\":1,\\"broken\\u0000` });
    expect(decodeAuditText((events[2]?.event as { raw: string }).raw)).toBe(rawNul);
    await expect(verifyStoredChain(db)).resolves.toMatchObject({ ok: true, checked: 5 });
    // The same message always yields the same content: verify --stream depends on it.
    expect(chainedContent(message(3, rawNul)).canonical).toBe(chainedContent(message(3, rawNul)).canonical);
  });

  it('keeps going past a message nested deeper than the stack or with ids too long for an index', async () => {
    const store = new AuditStore(db);
    const deep = `{"v":1,"id":"deep","time":"2025-01-01T00:00:00Z","type":"audit.run.completed","source":"x","details":{"d":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`;
    const longRunId = 'r'.repeat(10_000);
    const longUser = 'ü'.repeat(5_000);
    await store.append([message(1, deep), message(2, completed({ runId: longRunId, actor: { user: longUser, groups: [] }, id: 'i'.repeat(9_000) })), message(3, completed())]);
    const stored = await rows();
    expect(stored.map((r) => [Number(r.seq), r.valid])).toEqual([
      [1, false],
      [2, true],
      [3, true],
    ]);
    const [long] = (await db.query('SELECT run_id, actor_user, id FROM audit_events WHERE seq = 2')) as { run_id: string; actor_user: string; id: string }[];
    expect(long?.run_id).toMatch(/^r{128}…sha256:[0-9a-f]{64}$/);
    expect(long?.actor_user).toMatch(/^ü{128}…sha256:[0-9a-f]{64}$/);
    expect((await searchAuditEvents(db, { runId: longRunId, user: longUser, limit: 5 })).events.map((e) => e.seq)).toEqual([2]);
    await expect(verifyStoredChain(db)).resolves.toMatchObject({ ok: true, checked: 3 });
  });

  describe('run status (audit_runs)', () => {
    const runEvent = (runId: string, type: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify(completeAuditEvent({ type, source: 'test', runId, ...extra } as Parameters<typeof completeAuditEvent>[0]));
    const decided = (runId: string) => runEvent(runId, 'audit.run.decided', { decision: { effect: 'allow', rule: 'r' } });
    const started = (runId: string) => runEvent(runId, 'audit.run.started');
    const succeeded = (runId: string) => runEvent(runId, 'audit.run.completed', { outcome: { status: 'succeeded' } });
    const refused = (runId: string) => runEvent(runId, 'audit.run.failed', { outcome: { status: 'refused', errorCode: 'TICKET_REPLAYED' } });
    const timedOut = (runId: string) => runEvent(runId, 'audit.run.failed', { outcome: { status: 'failed', errorCode: 'TIMEOUT' } });
    const statuses = async () =>
      Object.fromEntries(((await db.query('SELECT run_id, status FROM audit_runs ORDER BY run_id')) as { run_id: string; status: string }[]).map((r) => [r.run_id, r.status]));

    // A sole writer reads back no status it projected itself (KnownRunStatuses): the same statuses.
    it.each([false, true])('follows each run through its state machine, in one batch or across batches (sole writer: %s)', async (soleWriter) => {
      const store = new AuditStore(db, { soleWriter });
      await store.append([message(1, decided('a')), message(2, started('a')), message(3, succeeded('a')), message(4, decided('a')), message(5, refused('a'))]);
      await store.append([message(6, decided('b')), message(7, refused('b'))]);
      await store.append([message(8, decided('c')), message(9, started('c'))]);
      await store.append([message(10, timedOut('c')), message(11, decided('d')), message(12, refused('d')), message(13, started('d'))]);
      expect(await statuses()).toEqual({ a: 'succeeded', b: 'refused', c: 'timed_out', d: 'started' });
    });

    it('folds the runs stored before the status table existed when it is created', async () => {
      const store = new AuditStore(db);
      await store.append([message(1, decided('a')), message(2, started('a')), message(3, succeeded('a')), message(4, refused('a')), message(5, decided('b'))]);
      const before = await statuses();
      const migration = MIGRATIONS.map((M) => new M()).find((m) => m.name === 'AuditRunStatus1764000000300');
      if (!migration) throw new Error('no run status migration');
      const runner = db.createQueryRunner();
      try {
        await migration.down(runner);
        // The view before the state machine: the last outcome wins.
        expect(await statuses()).toEqual({ a: 'refused', b: null });
        await migration.up(runner);
      } finally {
        await runner.release();
      }
      expect(await statuses()).toEqual(before);
      expect(before).toEqual({ a: 'succeeded', b: 'decided' });
    });
  });

  it('projects a time or exit code PostgreSQL cannot read as the write time / null, the event itself untouched', async () => {
    const store = new AuditStore(db);
    await store.append([
      message(1, completed({ time: 'half past nine' })),
      message(2, completed({ time: '+275760-09-13T00:00:00.000Z' })),
      message(3, completed({ outcome: { status: 'failed', exitCode: 2 ** 40 } })),
    ]);
    const stored = await rows();
    expect(stored.every((r) => r.valid)).toBe(true);
    expect(stored.map((r) => r.exit_code)).toEqual([null, null, null]);
    // The time column falls back to when the row was written.
    expect(stored[0]?.time.getTime()).toBeGreaterThan(Date.now() - 60_000);
    const [event] = (await db.query('SELECT event FROM audit_events WHERE seq = 1')) as { event: { time: string } }[];
    expect(event?.event.time).toBe('half past nine');
    await expect(verifyStoredChain(db)).resolves.toMatchObject({ ok: true, checked: 3 });
  });

  it('stores an event id seen again after the duplicate window (its sequence is what makes it once)', async () => {
    const store = new AuditStore(db);
    const again = completed();
    await store.append([message(1, again), message(2, completed()), message(3, again)]);
    expect((await rows()).map((r) => r.id)).toEqual([JSON.parse(again).id, expect.any(String), JSON.parse(again).id]);
    await expect(verifyStoredChain(db)).resolves.toMatchObject({ ok: true, checked: 3 });
  });

  it('never forks the chain: a writer whose head is stale chains onto the one another writer stored', async () => {
    const first = new AuditStore(db);
    const second = new AuditStore(await openDatabase(database.url));
    await first.loadHead();
    await second.loadHead();
    await Promise.all([
      first.append(Array.from({ length: 200 }, (_, i) => message(i + 1, completed()))),
      second.append(Array.from({ length: 200 }, (_, i) => message(i + 201, completed()))),
    ]);
    await first.append(Array.from({ length: 10 }, (_, i) => message(i + 401, completed())));
    const [{ n }] = (await db.query('SELECT count(*)::int AS n FROM audit_events')) as { n: number }[];
    expect(n).toBeGreaterThanOrEqual(210);
    await expect(verifyStoredChain(db)).resolves.toMatchObject({ ok: true, checked: n });
  });

  it('runs as a role that may only read and append, as docs/siem.md sets it up: no update, no delete, no disabling the trigger', async () => {
    const role = `rg_service_${randomUUID().slice(0, 8)}`;
    await db.query(`CREATE ROLE ${role} LOGIN`);
    try {
      await db.query(`GRANT SELECT, INSERT ON audit_events TO ${role}; GRANT SELECT, INSERT, UPDATE ON audit_run_status TO ${role}; GRANT SELECT ON rungate_migrations TO ${role}`);
      const url = new URL(database.url);
      url.username = role;
      const service = await openDatabase(url.toString());
      try {
        await new AuditStore(service).append([message(1, completed()), message(2, completed())]);
        const refused = (sql: string) => expect(service.query(sql)).rejects.toThrow(/permission denied|must be owner/);
        await refused('UPDATE audit_events SET actor_user = $$x$$');
        await refused('DELETE FROM audit_events');
        await refused('TRUNCATE audit_events');
        await refused('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
        // A GRANT without the right to grant is only a warning; the privilege stays absent.
        await service.query(`GRANT UPDATE ON audit_events TO ${role}`).catch(() => undefined);
        expect(await service.query(`SELECT has_table_privilege('audit_events', 'UPDATE') AS allowed`)).toEqual([{ allowed: false }]);
        await expect(verifyStoredChain(service)).resolves.toMatchObject({ ok: true, checked: 2 });
      } finally {
        await service.destroy();
      }
    } finally {
      await db.query(`REVOKE ALL ON audit_events, audit_run_status, rungate_migrations FROM ${role}`);
      await db.query(`DROP ROLE ${role}`);
    }
  });
});
