import { randomUUID } from 'node:crypto';
import { AUDIT_STREAM, RungateError } from '@rungate/contracts';
import type { NatsConnection } from 'nats';
import { JetStreamAuditSink } from './audit-publisher';
import { AUDIT_STREAM_CONFIG, auditStreamProblems, ensureAuditStream } from './audit-stream';
import { decodeJson } from './bus';
import { connectNats } from './nats';
import { KvRunLedger } from './run-ledger';
import type { StreamConfig } from 'nats';

describe('write-ahead audit on JetStream', () => {
  let nc: NatsConnection;

  beforeAll(async () => {
    nc = await connectNats({ name: 'audit-test' });
    await ensureAuditStream(await nc.jetstreamManager());
  });

  afterAll(() => nc.close());

  it('stores an event once even when the publish is retried', async () => {
    const sink = new JetStreamAuditSink(nc);
    const runId = randomUUID();
    const before = (await (await nc.jetstreamManager()).streams.info(AUDIT_STREAM)).state.last_seq;
    const event = await sink.publish({ type: 'audit.run.decided', source: 'test', runId, decision: { effect: 'allow', rule: 'r' } });
    await sink.publish({ ...event });
    const consumer = await nc.jetstream().consumers.get(AUDIT_STREAM, { filterSubjects: 'audit.run.decided', opt_start_seq: before + 1 });
    const batch = await consumer.fetch({ max_messages: 1000, expires: 1000 });
    const found: unknown[] = [];
    for await (const msg of batch) {
      const body = decodeJson(msg.data) as { runId?: string };
      if (body.runId === runId) found.push(body);
    }
    expect(found).toEqual([expect.objectContaining({ id: event.id, runId, source: 'test', v: 1 })]);
  });

  it('refuses a stream weaker than required', () => {
    const good = { ...AUDIT_STREAM_CONFIG } as StreamConfig;
    expect(auditStreamProblems(good)).toEqual([]);
    expect(auditStreamProblems({ ...good, deny_delete: false })).toContain('deny_delete must be true');
    expect(auditStreamProblems({ ...good, deny_purge: false })).toContain('deny_purge must be true');
    expect(auditStreamProblems({ ...good, duplicate_window: 0 })).toContain('duplicate_window must be at least 30s');
  });

  it('fails closed with AUDIT_UNAVAILABLE when the stream does not answer', async () => {
    const sink = new JetStreamAuditSink(nc, 500);
    const orphan = await connectNats({ name: 'audit-test-closed' });
    await orphan.close();
    const closedSink = new JetStreamAuditSink(orphan, 500);
    await expect(closedSink.publish({ type: 'audit.run.started', source: 'test' })).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    await expect(sink.publish({ type: 'not-an-audit-type', source: 'test' })).rejects.toThrow();
  });

  it('claims a run id once: the second claim is a replay', async () => {
    const ledger = await KvRunLedger.open(nc.jetstream());
    const runId = randomUUID();
    await ledger.claim(runId, 'replica-a');
    await expect(ledger.claim(runId, 'replica-b')).rejects.toMatchObject({ code: 'TICKET_REPLAYED' });
    await expect(ledger.claim('../etc/passwd', 'x')).rejects.toBeInstanceOf(RungateError);
  });

  it('keeps the policy strict: no delete, no purge on AUDIT', async () => {
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(AUDIT_STREAM);
    await expect(jsm.streams.deleteMessage(AUDIT_STREAM, info.state.last_seq)).rejects.toThrow(/not permitted|delete/i);
    await expect(jsm.streams.purge(AUDIT_STREAM)).rejects.toThrow(/not permitted|purge/i);
  });
});
