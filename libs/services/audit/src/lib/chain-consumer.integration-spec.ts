import { randomBytes, randomUUID } from 'node:crypto';
import { AUDIT_STREAM, type AuditEvent } from '@rungate/contracts';
import { JetStreamAuditSink, connectNats, ensureAuditStream } from '@rungate/messaging';
import { openDatabase, verifyStoredChain } from '@rungate/persistence';
import { createTestDatabase, eventually, type TestDatabase } from '@rungate/testing';
import type { JetStreamManager, NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { ChainConsumer, type ChainLog } from './chain-consumer';

class Lines implements ChainLog {
  readonly lines: string[] = [];
  log = (m: string) => void this.lines.push(m);
  warn = (m: string) => void this.lines.push(m);
  error = (m: string) => void this.lines.push(m);
}

/**
 * The chain writer against the shared AUDIT stream (other test files publish to it too): each
 * test uses its own durable, starting at the stream's current end, and its own database.
 */
describe('ChainConsumer on the real AUDIT stream', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let publisher: JetStreamAuditSink;
  let testDb: TestDatabase;
  let db: DataSource;
  const durables: string[] = [];
  const consumers: ChainConsumer[] = [];

  beforeAll(async () => {
    nc = await connectNats({ name: 'chain-consumer-test' });
    jsm = await nc.jetstreamManager();
    await ensureAuditStream(jsm);
    publisher = new JetStreamAuditSink(nc);
  });

  afterAll(async () => {
    await nc.close();
  });

  beforeEach(async () => {
    testDb = await createTestDatabase('rgchain');
    db = await openDatabase(testDb.url);
  });

  afterEach(async () => {
    await Promise.all(consumers.splice(0).map((c) => c.stop()));
    for (const durable of durables.splice(0)) await jsm.consumers.delete(AUDIT_STREAM, durable).catch(() => false);
    await db.destroy();
    await testDb.drop();
  });

  function durable(): string {
    const name = `t-chain-${randomBytes(4).toString('hex')}`;
    durables.push(name);
    return name;
  }

  function writer(name: string, log = new Lines(), database = db): ChainConsumer {
    const consumer = new ChainConsumer({ nc, db: database, durable: name, deliver: 'new', log, leaseCheckMs: 200 });
    consumers.push(consumer);
    return consumer;
  }

  async function publishRun(runId: string, count: number): Promise<AuditEvent[]> {
    const events: AuditEvent[] = [];
    for (let i = 0; i < count; i++) {
      events.push(await publisher.publish({ type: 'audit.run.started', source: 'chain-test', runId, details: { i } }));
    }
    return events;
  }

  async function rowsOf(runId: string, database = db): Promise<{ seq: string; id: string }[]> {
    return database.query('SELECT seq, id FROM audit_events WHERE run_id = $1 ORDER BY seq', [runId]);
  }

  it('writes published events in stream order, once each, and the chain verifies', async () => {
    const consumer = writer(durable());
    consumer.start();
    await eventually(async () => expect(consumer.status()).toMatchObject({ role: 'writer', consuming: true }));
    const runId = randomUUID();
    const published = await publishRun(runId, 50);
    const rows = await eventually(async () => {
      const r = await rowsOf(runId);
      expect(r).toHaveLength(50);
      return r;
    });
    expect(rows.map((r) => r.id)).toEqual(published.map((e) => e.id));
    await expect(verifyStoredChain(db)).resolves.toMatchObject({ ok: true });
  });

  it('misses nothing when a crashed writer still holds messages: the durable is re-pointed to the row after the head', async () => {
    const name = durable();
    const before = writer(name);
    before.start();
    await eventually(async () => expect(before.status()).toMatchObject({ role: 'writer', consuming: true }));
    const earlier = randomUUID();
    await publishRun(earlier, 10);
    await eventually(async () => expect(await rowsOf(earlier)).toHaveLength(10));
    await before.stop();

    const runId = randomUUID();
    const published = await publishRun(runId, 30);
    // A writer that died holding the next 10 unacked: JetStream hands them out again only in 60 s.
    const crashed = await nc.jetstream().consumers.get(AUDIT_STREAM, name);
    const held = await crashed.fetch({ max_messages: 10, expires: 2000 });
    const heldSeqs: number[] = [];
    for await (const message of held) heldSeqs.push(message.seq);
    expect(heldSeqs).toHaveLength(10);

    const log = new Lines();
    const after = writer(name, log);
    after.start();
    const rows = await eventually(async () => {
      const r = await rowsOf(runId);
      expect(r).toHaveLength(30);
      return r;
    }, 15_000);
    expect(rows.map((r) => r.id)).toEqual(published.map((e) => e.id));
    expect(log.lines.join('\n')).toMatch(/re-pointing .* to stream sequence/);
    await expect(verifyStoredChain(db)).resolves.toMatchObject({ ok: true });
  });

  it('writes with one replica while the other stands by, and the standby takes over when the writer stops', async () => {
    const name = durable();
    const first = writer(name);
    first.start();
    await eventually(async () => expect(first.status()).toMatchObject({ role: 'writer', consuming: true }));
    const secondDb = await openDatabase(testDb.url);
    const second = writer(name, new Lines(), secondDb);
    try {
      second.start();
      await eventually(async () => expect(second.status().role).toBe('standby'));
      const runId = randomUUID();
      await publishRun(runId, 20);
      await eventually(async () => expect(await rowsOf(runId)).toHaveLength(20));
      await first.stop();
      await eventually(async () => expect(second.status()).toMatchObject({ role: 'writer', consuming: true }), 10_000);
      const later = randomUUID();
      await publishRun(later, 20);
      await eventually(async () => expect(await rowsOf(later)).toHaveLength(20));
      expect(await rowsOf(runId)).toHaveLength(20);
      await expect(verifyStoredChain(db)).resolves.toMatchObject({ ok: true });
    } finally {
      await second.stop();
      await secondDb.destroy();
    }
  });
});
