import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_STREAM, type AuditEvent } from '@rungate/contracts';
import { JetStreamAuditSink, ensureAuditStream } from '@rungate/messaging';
import { AckPolicy, DeliverPolicy, ReplayPolicy, connect, nanos, type Consumer, type ConsumerConfig, type NatsConnection } from 'nats';
import { eventually } from '@rungate/test-util';
import { AuditHarness, newRunId } from '../testing/harness';
import { NATS_SERVER_BINARY, PrivateNatsServer } from '../testing/nats-server';

const SIEM_DOC = readFileSync(join(__dirname, '..', '..', '..', '..', 'docs', 'siem.md'), 'utf8');

/** docs/siem.md §1, `nats consumer add AUDIT siem-… --pull --deliver all --ack explicit --wait 60s --max-pending 1 --max-deliver=-1 --filter 'audit.>' --replay instant`. */
function documentedConsumer(name: string, startSequence?: number): Partial<ConsumerConfig> {
  return {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(60_000),
    max_ack_pending: 1,
    max_deliver: -1,
    filter_subject: 'audit.>',
    replay_policy: ReplayPolicy.Instant,
    // The doc says `all`; on the shared test stream we start after what other tests wrote.
    ...(startSequence ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSequence } : { deliver_policy: DeliverPolicy.All }),
  };
}

/** The collector loop of docs/siem.md §1, with `sendToSiem` given. */
async function collect(consumer: Consumer, sendToSiem: (event: AuditEvent) => Promise<void>, until: () => boolean): Promise<void> {
  while (!until()) {
    const batch = await consumer.fetch({ max_messages: 1, expires: 1000 });
    for await (const message of batch) {
      const event = message.json<AuditEvent>();
      try {
        await sendToSiem(event);
        message.ack();
      } catch {
        message.nak(100);
      }
    }
  }
}

describe('docs/siem.md: a SIEM reading AUDIT with its own durable consumer', () => {
  const audit = new AuditHarness();
  beforeAll(() => audit.open());
  afterAll(() => audit.close());

  it('gets every event in order with the documented settings, and a failed forward comes back before anything newer', async () => {
    const name = `siem-t${newRunId().slice(4, 12)}`;
    await audit.jsm.consumers.add(AUDIT_STREAM, documentedConsumer(name, await audit.nextSequence()));
    try {
      const runId = newRunId();
      const published = await audit.publishRun(runId, 6);
      const forwarded: string[] = [];
      let failOnce = true;
      const consumer = await audit.nc.jetstream().consumers.get(AUDIT_STREAM, name);
      await collect(
        consumer,
        async (event) => {
          if (event.runId !== runId) return;
          if (event.id === published[2]?.id && failOnce) {
            failOnce = false;
            throw new Error('SIEM unavailable');
          }
          forwarded.push(event.id);
        },
        () => forwarded.length === 6,
      );
      expect(forwarded).toEqual(published.map((e) => e.id));
    } finally {
      await audit.jsm.consumers.delete(AUDIT_STREAM, name);
    }
  });
});

(NATS_SERVER_BINARY ? describe : describe.skip)('docs/siem.md: the SIEM user permissions, on a real nats-server', () => {
  const server = new PrivateNatsServer();
  const connections: NatsConnection[] = [];
  const siemUser = /```conf\n(\{\n {2}user: siem-splunk[\s\S]*?\n\})\n```/.exec(SIEM_DOC)?.[1];

  async function as(user: string, pass: string): Promise<NatsConnection> {
    const nc = await connect({ servers: server.url, user, pass, reconnect: false });
    connections.push(nc);
    return nc;
  }

  beforeAll(async () => {
    expect(siemUser).toBeDefined();
    await server.start(
      `authorization { users: [\n{ user: operator, password: op-pass }\n${(siemUser as string).replace('$SIEM_SPLUNK_NATS_PASSWORD', 'siem-pass')}\n] }`,
    );
    await eventually(async () => (await as('operator', 'op-pass')).flush(), 10_000);
  });

  afterAll(async () => {
    await Promise.all(connections.map((nc) => nc.close()));
    await server.stop();
  });

  it('reads and acks its own consumer, and can neither write audit events nor touch other consumers', async () => {
    const operator = await as('operator', 'op-pass');
    const jsm = await operator.jetstreamManager();
    await ensureAuditStream(jsm);
    await jsm.consumers.add(AUDIT_STREAM, documentedConsumer('siem-splunk'));
    await jsm.consumers.add(AUDIT_STREAM, documentedConsumer('rungate-sink-other'));
    const publisher = new JetStreamAuditSink(operator);
    const published = [];
    for (let i = 0; i < 3; i++) published.push(await publisher.publish({ type: 'audit.run.decided', source: 'test', runId: `r${i}` }));

    const siem = await as('siem-splunk', 'siem-pass');
    const consumer = await siem.jetstream().consumers.get(AUDIT_STREAM, 'siem-splunk');
    const forwarded: string[] = [];
    await collect(consumer, async (event) => void forwarded.push(event.id), () => forwarded.length === 3);
    expect(forwarded).toEqual(published.map((e) => e.id));
    await eventually(async () => expect((await jsm.consumers.info(AUDIT_STREAM, 'siem-splunk')).ack_floor.stream_seq).toBe(3));

    await expect(new JetStreamAuditSink(siem, 1000).publish({ type: 'audit.run.decided', source: 'forged' })).rejects.toMatchObject({
      code: 'AUDIT_UNAVAILABLE',
    });
    await expect(siem.jetstream().consumers.get(AUDIT_STREAM, 'rungate-sink-other')).rejects.toThrow();
    await expect(siem.request(`$JS.API.CONSUMER.DELETE.${AUDIT_STREAM}.siem-splunk`, undefined, { timeout: 1000 })).rejects.toThrow();
    expect((await jsm.streams.info(AUDIT_STREAM)).state.messages).toBe(3);
  });
});
