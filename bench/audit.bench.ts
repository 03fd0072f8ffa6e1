/**
 * The audit chain writer (issue 6): events per second through chain + PostgreSQL projection
 * (target ≥ 5,000/s) and the delay from publish to row (p50/p99), each against a baseline
 * measured in the same run:
 *
 * - store: AuditStore.append (parse, validate, hash, multi-row insert under the append lock)
 *   vs the same rows inserted as they are, precomputed (what PostgreSQL alone costs);
 * - catch-up: a backlog on the stream written by the ChainConsumer (fetch, chain, insert, ack);
 * - live: publishers and writer at once, the stream's own publish→ack as the baseline delay.
 *
 * NATS is a private nats-server started here (the shared one's AUDIT stream carries other
 * people's events); PostgreSQL is the shared server, in a database of its own.
 */
import { randomUUID } from 'node:crypto';
import { AUDIT_STREAM, type AuditEvent } from '@rungate/contracts';
import { JetStreamAuditSink, completeAuditEvent, connectNats, ensureAuditStream } from '@rungate/messaging';
import { AuditStore, openDatabase, verifyStoredChain, type StreamedEvent } from '@rungate/persistence';
import { ChainConsumer, type CommittedBatch } from '@rungate/service-audit';
import { createTestDatabase } from '@rungate/testing';
import { AckPolicy, DeliverPolicy, type NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { PrivateNatsServer } from '../libs/audit-sinks/src/testing/nats-server';
import { fmt, record, stats } from './support';

const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 20_000);
const TARGET_PER_SECOND = 5000;
const quiet = { log: () => undefined, warn: (m: string) => console.warn(m), error: (m: string) => console.error(m) };

/** A completed run as executors publish it: every field set, about 800 bytes of JSON. */
function runEvent(i: number): AuditEvent {
  return completeAuditEvent({
    type: 'audit.run.completed',
    source: 'executor-postgres',
    runId: randomUUID(),
    actor: { user: 'alice@example.com', groups: ['engineering', 'oncall'], agent: 'claude-code', tokenId: 'tok_4f2a9c1b7e3d', ip: '10.0.4.17', userAgent: 'claude-code/1.0' },
    tool: 'ops.postgres.get_user',
    runbook: { repository: 'ops', path: 'postgres/get_user.runbook.sql', commit: '9f2c4e1a7b3d5f6e8a9c0b1d2e3f4a5b6c7d8e9f', sha256: 'ab'.repeat(32) },
    connection: { name: 'analytics-replica', type: 'postgres' },
    params: { user_id: String(i), email: `user${i}@example.com`, password: '[REDACTED]' },
    outcome: { status: 'succeeded', exitCode: 0, durationMs: 3.25, rows: 1, bytes: 212, truncated: false, outputSha256: 'cd'.repeat(32) },
  });
}

function perSecond(count: number, startNs: bigint, endNs: bigint): number {
  return count / (Number(endNs - startNs) / 1e9);
}

async function freshDatabase(label: string): Promise<{ db: DataSource; drop: () => Promise<void> }> {
  const test = await createTestDatabase(`rgbench_${label}`);
  const db = await openDatabase(test.url);
  return { db, drop: async () => (await db.destroy(), await test.drop()) };
}

/** AuditStore alone vs PostgreSQL alone, batches of 1,000. */
async function storeThroughput(): Promise<{ store: number; baseline: number }> {
  const messages: StreamedEvent[] = Array.from({ length: EVENTS }, (_, i) => {
    const event = runEvent(i);
    return { seq: i + 1, subject: event.type, data: JSON.stringify(event) };
  });
  const batch = 1000;
  const { db, drop } = await freshDatabase('store');
  try {
    const store = new AuditStore(db);
    const start = process.hrtime.bigint();
    for (let i = 0; i < messages.length; i += batch) await store.append(messages.slice(i, i + batch));
    const storeRate = perSecond(messages.length, start, process.hrtime.bigint());
    // The baseline: the rows the store wrote, inserted again as they are into a twin table.
    await db.query('CREATE TABLE audit_events_twin (LIKE audit_events INCLUDING ALL)');
    const columns = ((await db.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_events' ORDER BY ordinal_position`)) as { column_name: string }[]).map((c) => c.column_name);
    const rows = ((await db.query(`SELECT ${columns.join(',')} FROM audit_events ORDER BY seq`)) as Record<string, unknown>[]).map((r) =>
      columns.map((c) => (r[c] !== null && typeof r[c] === 'object' && !(r[c] instanceof Date) ? JSON.stringify(r[c]) : r[c])),
    );
    const baseStart = process.hrtime.bigint();
    for (let i = 0; i < rows.length; i += batch) {
      const chunk = rows.slice(i, i + batch);
      const values = chunk.map((_, r) => `(${columns.map((__, c) => `$${r * columns.length + c + 1}`).join(',')})`).join(',');
      await db.query(`INSERT INTO audit_events_twin (${columns.join(',')}) VALUES ${values}`, chunk.flat());
    }
    const baseline = perSecond(rows.length, baseStart, process.hrtime.bigint());
    const verified = await verifyStoredChain(db);
    if (!verified.ok || verified.checked !== EVENTS) throw new Error(`store bench: chain does not verify: ${JSON.stringify(verified)}`);
    return { store: storeRate, baseline };
  } finally {
    await drop();
  }
}

async function publishAll(publisher: JetStreamAuditSink, events: AuditEvent[], concurrency: number, onPublished?: (event: AuditEvent, startNs: bigint, ackNs: bigint) => void): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < events.length) {
        const event = events[next++] as AuditEvent;
        const start = process.hrtime.bigint();
        await publisher.publish(event);
        onPublished?.(event, start, process.hrtime.bigint());
      }
    }),
  );
}

/** A writer on a durable of its own; `new` starts it at the stream's end (the live runs). */
function writer(nc: NatsConnection, db: DataSource, durable: string, deliver: 'all' | 'new', onCommitted?: (batch: CommittedBatch) => void): ChainConsumer {
  return new ChainConsumer({ nc, db, durable, deliver, log: quiet, ...(onCommitted ? { onCommitted } : {}) });
}

async function waitForRows(db: DataSource, count: number): Promise<bigint> {
  for (;;) {
    const [{ n }] = (await db.query('SELECT count(*)::int AS n FROM audit_events')) as { n: number }[];
    if (n >= count) return process.hrtime.bigint();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A backlog of EVENTS on the stream, then the writer started: how fast it catches up. */
async function catchUp(nc: NatsConnection, publisher: JetStreamAuditSink): Promise<number> {
  const { db, drop } = await freshDatabase('catchup');
  const jsm = await nc.jetstreamManager();
  const startSeq = (await jsm.streams.info(AUDIT_STREAM)).state.last_seq + 1;
  await publishAll(publisher, Array.from({ length: EVENTS }, (_, i) => runEvent(i)), 64);
  const durable = `bench-catchup-${randomUUID().slice(0, 8)}`;
  await jsm.consumers.add(AUDIT_STREAM, { durable_name: durable, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq, ack_policy: AckPolicy.All });
  let finished: bigint | undefined;
  let written = 0;
  const consumer = writer(nc, db, durable, 'all', (batch) => {
    written += batch.written;
    if (written >= EVENTS) finished ??= process.hrtime.bigint();
  });
  try {
    const start = process.hrtime.bigint();
    consumer.start();
    while (finished === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
    return perSecond(EVENTS, start, finished);
  } finally {
    await consumer.stop();
    await jsm.consumers.delete(AUDIT_STREAM, durable).catch(() => false);
    await drop();
  }
}

/**
 * Publishers and writer at once. Paced: `rate` events/s for `seconds`, each event's delay
 * from the start of its publish to the commit of its row. Unpaced (rate 0): throughput.
 */
async function live(nc: NatsConnection, publisher: JetStreamAuditSink, rate: number, count: number) {
  const { db, drop } = await freshDatabase(`live${rate}`);
  const durable = `bench-live-${randomUUID().slice(0, 8)}`;
  // A row can commit before its publisher has read the ack (and so its seq): match up at the end.
  const publishedAt = new Map<number, bigint>();
  const committedAt = new Map<number, bigint>();
  const acks: number[] = [];
  const jsm = await nc.jetstreamManager();
  const consumer = writer(nc, db, durable, 'new', (batch) => {
    const now = process.hrtime.bigint();
    for (const seq of batch.seqs) committedAt.set(seq, now);
  });
  const js = nc.jetstream();
  try {
    consumer.start();
    while (!consumer.status().consuming) await new Promise((resolve) => setTimeout(resolve, 10));
    const events = Array.from({ length: count }, (_, i) => runEvent(i));
    const start = process.hrtime.bigint();
    if (rate === 0) {
      await publishAll(publisher, events, 64);
    } else {
      const interval = 1000 / rate;
      const began = performance.now();
      await Promise.all(
        events.map(async (event, i) => {
          const due = began + i * interval;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          const t0 = process.hrtime.bigint();
          // Published here rather than through publishAll so the seq is known for the delay.
          const ack = await js.publish(event.type, JSON.stringify(event), { msgID: event.id, expect: { streamName: AUDIT_STREAM } });
          acks.push(Number(process.hrtime.bigint() - t0) / 1e6);
          publishedAt.set(ack.seq, t0);
        }),
      );
    }
    const end = await waitForRows(db, count);
    while (rate > 0 && committedAt.size < publishedAt.size) await new Promise((resolve) => setTimeout(resolve, 5));
    const delays = [...publishedAt].map(([seq, t0]) => Number((committedAt.get(seq) as bigint) - t0) / 1e6);
    return { throughput: perSecond(count, start, end), delay: stats(delays), ack: stats(acks) };
  } finally {
    await consumer.stop();
    await jsm.consumers.delete(AUDIT_STREAM, durable).catch(() => false);
    await drop();
  }
}

async function main(): Promise<void> {
  const nats = await new PrivateNatsServer().start();
  const nc = await connectNats({ url: nats.url, name: 'audit-bench' });
  try {
    await ensureAuditStream(await nc.jetstreamManager());
    const publisher = new JetStreamAuditSink(nc);
    console.log(`audit chain writer, ${EVENTS.toLocaleString('en')} events of ~${JSON.stringify(runEvent(0)).length} bytes\n`);

    const store = await storeThroughput();
    console.log(`store: AuditStore.append, batches of 1,000       ${store.store.toFixed(0).padStart(7)} events/s`);
    console.log(`       baseline: the same rows, plain INSERT     ${store.baseline.toFixed(0).padStart(7)} events/s   (store at ${((store.store / store.baseline) * 100).toFixed(0)}% of PostgreSQL alone)`);

    const caughtUp = await catchUp(nc, publisher);
    console.log(`catch-up: backlog on the stream → table         ${caughtUp.toFixed(0).padStart(7)} events/s   target ≥ ${TARGET_PER_SECOND.toLocaleString('en')}/s: ${caughtUp >= TARGET_PER_SECOND ? 'met' : 'NOT met'}`);

    const flood = await live(nc, publisher, 0, EVENTS);
    console.log(`live: 64 publishers and the writer at once       ${flood.throughput.toFixed(0).padStart(7)} events/s   (publish → last row)`);

    const paced: Record<string, unknown> = {};
    for (const rate of [200, 1000, 3000]) {
      const result = await live(nc, publisher, rate, rate * 5);
      paced[`${rate}PerSecond`] = { delay: result.delay, ack: result.ack };
      console.log(
        `delay publish → row at ${String(rate).padStart(5)}/s: p50 ${fmt(result.delay.p50).padStart(9)}  p99 ${fmt(result.delay.p99).padStart(9)}` +
          `   baseline publish → ack: p50 ${fmt(result.ack.p50).padStart(9)}  p99 ${fmt(result.ack.p99).padStart(9)}  (${(result.delay.p50 / result.ack.p50).toFixed(1)}× at p50)`,
      );
    }
    record('audit', {
      events: EVENTS,
      storePerSecond: store.store,
      storeBaselinePerSecond: store.baseline,
      storeVsBaseline: store.store / store.baseline,
      catchUpPerSecond: caughtUp,
      livePerSecond: flood.throughput,
      targetPerSecond: TARGET_PER_SECOND,
      paced,
    });
  } finally {
    await nc.close();
    await nats.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
