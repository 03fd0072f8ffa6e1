import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { completeAuditEvent } from '@rungate/messaging';
import { AuditStore, openDatabase, verifyStoredChain } from '@rungate/persistence';
import { createTestDatabase, RUNGATE_BIN, type TestDatabase } from '@rungate/testing';
import type { DataSource } from 'typeorm';

const CLI = RUNGATE_BIN;

/** The audit table resists tampering: the service cannot change rows, and verify finds what a superuser changed. */
describe('audit table and `rungate audit verify`', () => {
  let db: TestDatabase;
  let source: DataSource;

  beforeEach(async () => {
    db = await createTestDatabase('rgverify');
    source = await openDatabase(db.url);
    const store = new AuditStore(source);
    const events = Array.from({ length: 20 }, (_, i) =>
      completeAuditEvent({ type: 'audit.run.completed', source: 'test', runId: randomUUID(), outcome: { status: 'succeeded', durationMs: i } }),
    );
    await store.append(events.map((event, i) => ({ seq: i + 1, subject: event.type, data: JSON.stringify(event) })));
    await store.append([{ seq: 21, subject: 'audit.run.completed', data: '{"not": "an audit event"' }]);
  });

  afterEach(async () => {
    await source.destroy();
    await db.drop();
  });

  it('verifies an intact chain, malformed events included', async () => {
    await expect(verifyStoredChain(source)).resolves.toMatchObject({ ok: true, checked: 21 });
    const invalid = await source.query('SELECT valid, type FROM audit_events WHERE seq = 21');
    expect(invalid).toEqual([{ valid: false, type: 'audit.run.completed' }]);
  });

  it('refuses UPDATE, DELETE and TRUNCATE, even from the table owner', async () => {
    await expect(source.query("UPDATE audit_events SET actor_user = 'x' WHERE seq = 1")).rejects.toThrow(/append-only/);
    await expect(source.query('DELETE FROM audit_events WHERE seq = 1')).rejects.toThrow(/append-only/);
    await expect(source.query('TRUNCATE audit_events')).rejects.toThrow(/append-only/);
  });

  it('does not store a redelivered event twice', async () => {
    const store = new AuditStore(source);
    const event = completeAuditEvent({ type: 'audit.run.started', source: 'test' });
    expect(await store.append([{ seq: 5, subject: event.type, data: JSON.stringify(event) }])).toBe(0);
    expect(Number((await source.query('SELECT count(*) AS n FROM audit_events'))[0].n)).toBe(21);
  });

  async function tamper(sql: string): Promise<void> {
    await source.query(`SET session_replication_role = replica; ${sql}; SET session_replication_role = DEFAULT;`);
  }

  it('names an altered row', async () => {
    await tamper(`UPDATE audit_events SET event = jsonb_set(event, '{outcome,durationMs}', '999') WHERE seq = 7`);
    await expect(verifyStoredChain(source)).resolves.toMatchObject({ ok: false, checked: 6, firstBreak: { seq: 7, kind: 'altered' } });
  });

  it('names the row after a deleted one', async () => {
    await tamper('DELETE FROM audit_events WHERE seq = 12');
    await expect(verifyStoredChain(source)).resolves.toMatchObject({ ok: false, firstBreak: { seq: 13, kind: 'missing-or-reordered' } });
  });

  it('names reordered rows', async () => {
    await tamper('UPDATE audit_events SET seq = -seq WHERE seq IN (3, 4); UPDATE audit_events SET seq = 4 WHERE seq = -3; UPDATE audit_events SET seq = 3 WHERE seq = -4');
    await expect(verifyStoredChain(source)).resolves.toMatchObject({ ok: false, firstBreak: { seq: 3, kind: 'missing-or-reordered' } });
  });

  it('exits 0 when intact and 1 naming the broken link (the CLI, built)', async () => {
    const run = promisify(execFile);
    const ok = await run(process.execPath, [CLI, 'audit', 'verify', '--database', db.url]);
    expect(ok.stdout).toMatch(/^intact: 21 events/);
    await tamper('DELETE FROM audit_events WHERE seq = 2');
    const broken = await run(process.execPath, [CLI, 'audit', 'verify', '--database', db.url]).catch((error: { code: number; stdout: string }) => error);
    expect(broken).toMatchObject({ code: 1, stdout: expect.stringMatching(/^BROKEN after 1 intact events: event seq 3/) });
  });
});
