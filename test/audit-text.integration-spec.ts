import { randomUUID } from 'node:crypto';
import { AUDIT_TEXT_MARK, canonicalJson, chainHashOfCanonical, decodeAuditStrings, encodeAuditStrings, encodeAuditText, hasUnstorableText, storableAuditValue } from '@rungate/audit-chain';
import { formatEvent, formatSyslogMessage, toOcsf } from '@rungate/audit-sinks';
import { AUDIT_STREAM, AuditEvent, type AuditEventInput } from '@rungate/contracts';
import { JetStreamAuditSink, connectNats, encodeJson, ensureAuditStream } from '@rungate/messaging';
import { AuditStore, indexedText, legacyInvalidContent, openDatabase, searchAuditEvents, verifyStoredChain } from '@rungate/persistence';
import { compareWithStream } from '@rungate/service-audit';
import { createTestDatabase, type TestDatabase } from '@rungate/testing';
import fc from 'fast-check';
import type { JetStreamManager, NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { hostileJson, hostileText } from '../libs/audit-chain/src/testing/hostile-text';
import { decodeStreamEvent } from '../libs/audit-sinks/src/lib/delivery';
import { PrivateNatsServer } from '../libs/audit-sinks/src/testing/nats-server';
import { parseSyslogMessage } from '../libs/audit-sinks/src/testing/syslog-frames';

/** Each run publishes two events: through today's publisher and as an older one would. */
const RUNS = 100;

type Row = { valid: boolean; actor_user: string | null; actor_agent: string | null; tool: string | null; run_id: string | null; connection_name: string | null; event: unknown };

/** What a consumer reading UTF-8 sees: lossless only when the text holds no lone surrogate. */
const survivesUtf8 = (text: string) => Buffer.from(text, 'utf8').toString('utf8') === text;
/** JSON's own round trip (it turns -0 into 0): the yardstick for "unchanged". */
const viaJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/**
 * Issue 15, the property: whatever text an event carries — lone surrogates, NUL, control
 * characters, the encoding's own mark, tens of kilobytes, hundreds of levels of nesting — it
 * goes through the real path (publisher → JetStream AUDIT → chain writer → PostgreSQL, and
 * the sinks' native JSON, OCSF and syslog renderings) as one and the same event, decodes back
 * to what was published, verifies (chain and stream), and is found by actor, tool and run id.
 * A private nats-server, so `verify --stream` can compare the whole stream with the table.
 */
describe('hostile text on the audit path', () => {
  const nats = new PrivateNatsServer();
  let nc: NatsConnection;
  let database: TestDatabase;
  let db: DataSource;
  let store: AuditStore;
  let sink: JetStreamAuditSink;
  let jsm: JetStreamManager;
  let counter = 0;

  beforeAll(async () => {
    await nats.start();
    nc = await connectNats({ url: nats.url, name: 'audit-text' });
    jsm = await nc.jetstreamManager();
    await ensureAuditStream(jsm);
    database = await createTestDatabase('rgaudittext');
    db = await openDatabase(database.url);
    store = new AuditStore(db);
    sink = new JetStreamAuditSink(nc);
  });

  afterAll(async () => {
    await nc?.close();
    await nats.stop();
    await db?.destroy();
    await database?.drop();
  });

  const hostileEvent = fc.record({
    user: hostileText,
    agent: hostileText,
    tool: hostileText,
    runId: hostileText,
    connection: hostileText,
    params: fc.dictionary(hostileText, hostileText, { maxKeys: 4 }),
    reason: hostileText,
    error: hostileText,
    details: hostileJson,
  });

  function inputOf(generated: typeof hostileEvent extends fc.Arbitrary<infer T> ? T : never): AuditEventInput {
    counter += 1;
    return {
      type: 'audit.run.completed',
      source: 'property',
      // Unique per event, hostile all the same: a run id is where a search starts.
      runId: `${generated.runId}#${counter}`,
      tool: generated.tool,
      actor: { user: generated.user, groups: [generated.user], agent: generated.agent },
      connection: { name: generated.connection, type: 'postgres' },
      params: generated.params,
      decision: { effect: 'allow', reason: generated.reason },
      outcome: { status: 'succeeded', error: generated.error },
      details: { value: generated.details },
    };
  }

  /** The next message on the stream, appended by the chain writer's core exactly as the service does. */
  async function throughTheChain(): Promise<{ seq: number; data: Uint8Array; subject: string; stored: Row }> {
    // Only this file publishes to the private stream: its last message is the one just published.
    const message = await jsm.streams.getMessage(AUDIT_STREAM, { last_by_subj: 'audit.run.completed' });
    await store.append([{ seq: message.seq, subject: message.subject, data: message.string() }]);
    const [stored] = (await db.query('SELECT valid, actor_user, actor_agent, tool, run_id, connection_name, event FROM audit_events WHERE seq = $1', [message.seq])) as Row[];
    return { seq: message.seq, data: message.data, subject: message.subject, stored: stored as Row };
  }

  async function expectOnePath(published: AuditEvent, original: AuditEvent, decodable: boolean): Promise<void> {
    const { seq, data, subject, stored } = await throughTheChain();
    // The chain and the table hold exactly what was published, as a valid event, projected.
    expect(stored.valid).toBe(true);
    expect(canonicalJson(stored.event)).toBe(canonicalJson(published));
    if (decodable) expect(decodeAuditStrings(viaJson(stored.event))).toEqual(viaJson(original));
    // Indexed columns hold a long value as a prefix and its digest; searches compute the same.
    expect(stored).toEqual(
      expect.objectContaining({
        actor_user: indexedText(published.actor?.user as string),
        actor_agent: published.actor?.agent,
        tool: published.tool,
        run_id: indexedText(published.runId as string),
        connection_name: published.connection?.name,
      }),
    );

    // Every sink forwards the same event, in text any UTF-8 reader takes without loss.
    const forwarded = decodeStreamEvent({ seq, subject, data, storedAt: new Date() }).event;
    const native = JSON.stringify(formatEvent(forwarded, 'native'));
    expect(survivesUtf8(native)).toBe(true);
    expect(canonicalJson(JSON.parse(native))).toBe(canonicalJson(stored.event));
    const ocsf = toOcsf(forwarded);
    const ocsfLine = JSON.stringify(ocsf);
    expect(survivesUtf8(ocsfLine)).toBe(true);
    expect(ocsf).toMatchObject({ actor: { user: { name: published.actor?.user } }, api: { operation: published.tool, request: { uid: published.runId } }, metadata: { uid: published.id } });
    expect(canonicalJson((JSON.parse(ocsfLine) as { unmapped: { params: unknown } }).unmapped.params)).toBe(canonicalJson(published.params));
    const syslog = parseSyslogMessage(formatSyslogMessage(forwarded, formatEvent(forwarded, 'native'), { facility: 10, hostname: 'h', procId: '1', structuredDataId: 'rungate@32473' }));
    expect(syslog.sd).toEqual(expect.objectContaining({ user: published.actor?.user, tool: published.tool, runId: published.runId }));
    expect(canonicalJson(JSON.parse(syslog.msg))).toBe(canonicalJson(stored.event));

    // Found by actor, tool and run id: by the values as the caller had them, and as stored.
    for (const query of [
      { user: original.actor?.user, runbook: original.tool, runId: original.runId },
      { user: published.actor?.user, runbook: published.tool, runId: published.runId },
      { connection: original.connection?.name, agent: original.actor?.agent, runId: original.runId },
    ]) {
      const page = await searchAuditEvents(db, { ...query, limit: 10 });
      expect(page.events.map((e) => e.seq)).toContain(seq);
    }
    const runs = (await db.query('SELECT status FROM audit_runs WHERE run_id = $1', [stored.run_id])) as { status: string }[];
    expect(runs).toEqual([{ status: 'succeeded' }]);
  }

  it('keeps every event whole, decodable, verifiable and searchable', async () => {
    await fc.assert(
      fc.asyncProperty(hostileEvent, async (generated) => {
        const input = inputOf(generated);
        const original = AuditEvent.parse({ v: 1, id: randomUUID(), time: new Date().toISOString(), ...input });
        // An event over NATS's max_payload (1 MiB) cannot be published at all: the publisher
        // answers AUDIT_UNAVAILABLE and nothing runs (libs/messaging). Rungate's own events stay
        // far below it (ADR 13); the property is about every event that can be on the stream.
        fc.pre(Buffer.byteLength(JSON.stringify(encodeAuditStrings(original)), 'utf8') < 900 * 1024);

        // Today's publisher: the event is encoded before it reaches the stream.
        const published = await sink.publish({ ...original, id: randomUUID() });
        expect(published).toEqual(encodeAuditStrings({ ...original, id: published.id }));
        await expectOnePath(published, { ...original, id: published.id }, true);

        // An older publisher put the raw text on the stream: the writer and the sinks give it
        // the encoding the publisher would have (a string merely starting with the mark, in
        // an event with nothing to encode, it cannot tell from an encoded one).
        const raw = { ...original, id: randomUUID(), runId: `${original.runId}-raw` };
        await nc.jetstream().publish(raw.type, encodeJson(raw), { msgID: raw.id });
        const decodable = hasUnstorableText(raw) || !JSON.stringify(raw).includes(AUDIT_TEXT_MARK);
        await expectOnePath(storableAuditValue(raw), raw, decodable);
      }),
      // The stream and the chain carry state from one run to the next, so a failing run is
      // reported as found rather than shrunk (its seed and path replay it).
      { numRuns: RUNS, endOnFailure: true },
    );
    await expect(verifyStoredChain(db)).resolves.toMatchObject({ ok: true, checked: 2 * RUNS });
    await expect(compareWithStream(db, nc)).resolves.toMatchObject({ ok: true, compared: 2 * RUNS, legacy: 0 });
  }, 300_000);

  it('accepts in verify --stream a row a writer before the encoding stored as invalid', async () => {
    const event = AuditEvent.parse({ v: 1, id: randomUUID(), time: new Date().toISOString(), type: 'audit.run.completed', source: 'old', params: { note: 'a\u0000b' } });
    const ack = await nc.jetstream().publish(event.type, encodeJson(event), { msgID: event.id });
    const message = await jsm.streams.getMessage(AUDIT_STREAM, { seq: ack.seq });
    const head = store.cachedHead ?? (await store.loadHead());
    const insertAsOldWriter = async (content: Record<string, unknown>) => {
      const canonical = canonicalJson(content);
      await db.query(`INSERT INTO audit_events (seq, id, time, type, valid, event, prev_hash, hash) VALUES ($1, $2, now(), $3, false, $4::jsonb, $5, $6)`, [
        ack.seq,
        `invalid-${ack.seq}`,
        message.subject,
        canonical,
        head.hash,
        chainHashOfCanonical(head.hash, canonical),
      ]);
    };
    const legacy = legacyInvalidContent({ seq: ack.seq, subject: message.subject, data: message.string() });
    expect(legacy).toEqual({ invalid: true, subject: 'audit.run.completed', raw: message.string() });
    await insertAsOldWriter(legacy);
    await expect(verifyStoredChain(db)).resolves.toMatchObject({ ok: true });
    await expect(compareWithStream(db, nc)).resolves.toMatchObject({ ok: true, legacy: 1 });
  });

  it('encodes a filter holding NUL for the query, never passing PostgreSQL what it cannot take', async () => {
    await expect(searchAuditEvents(db, { user: 'nobody\u0000', runbook: 'x\ud800*', type: 'audit.run.\u0000*', limit: 1 })).resolves.toEqual({ events: [] });
    expect(encodeAuditText('nobody\u0000')).toBe(`${AUDIT_TEXT_MARK}nobody\\u0000`);
  });
});
