import type { AuditEvent } from '@rungate/contracts';
import { eventually } from '@rungate/test-util';
import { AuditHarness, FAST_RETRY, RecordingLog, newRunId } from '../testing/harness';
import { SyslogReceiver, selfSignedCertificate, type TlsIdentity } from '../testing/receivers';
import { parseSyslogMessage, type ParsedSyslogMessage } from '../testing/syslog-frames';
import { SinkRunner } from './sink-runner';

function ours(receiver: SyslogReceiver, runId: string): ParsedSyslogMessage[] {
  return receiver.messages.map(parseSyslogMessage).filter((m) => m.sd['runId'] === runId);
}

function ids(messages: ParsedSyslogMessage[]): string[] {
  return messages.map((m) => m.sd['eventId'] as string);
}

/** At least once: a replay after a dropped connection may repeat events; the first occurrences are the stream. */
function firstOccurrences(values: string[]): string[] {
  return [...new Set(values)];
}

const tls = selfSignedCertificate();

describe('syslog sink on the real AUDIT stream', () => {
  const audit = new AuditHarness();
  const runners: SinkRunner[] = [];
  const receivers: SyslogReceiver[] = [];

  beforeAll(() => audit.open());
  afterAll(async () => {
    await audit.close();
    tls?.dispose();
  });

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop()));
    await Promise.all(receivers.splice(0).map((r) => r.stop()));
    await audit.removeDurables();
  });

  async function receiver(identity?: TlsIdentity): Promise<SyslogReceiver> {
    const started = await new SyslogReceiver(identity).start();
    receivers.push(started);
    return started;
  }

  async function startSink(name: string, port: number, extra: Record<string, unknown> = {}, log = new RecordingLog()) {
    const runner = new SinkRunner({ log, lagRefreshMs: 100 });
    runners.push(runner);
    await runner.start(
      [
        {
          type: 'syslog',
          name,
          host: '127.0.0.1',
          port,
          hostname: 'rungate-test',
          start: { sequence: await audit.nextSequence() },
          retry: FAST_RETRY,
          timeout: 2000,
          ...extra,
        },
      ],
      audit.nc,
    );
    return runner;
  }

  it('writes RFC 5424 messages in octet-counted frames, in stream order, with the event as MSG', async () => {
    const syslog = await receiver();
    await startSink(audit.sinkName('tcp'), syslog.port);
    const runId = newRunId();
    const published = await audit.publishRun(runId, 7);
    const [failed] = await audit.publishRun(runId, 1, { type: 'audit.run.failed', outcome: { status: 'failed', error: 'boom "x" ]' } });

    const got = await eventually(() => {
      const messages = ours(syslog, runId);
      expect(messages).toHaveLength(8);
      return messages;
    });
    expect(syslog.errors).toEqual([]);
    expect(ids(got)).toEqual([...published, failed].map((e) => e?.id));
    got.forEach((message, i) => {
      const event = [...published, failed][i] as AuditEvent;
      expect(message).toMatchObject({
        version: 1,
        timestamp: event.time,
        hostname: 'rungate-test',
        appName: 'rungate',
        procId: String(process.pid),
        msgId: event.type,
        sdId: 'rungate@32473',
        sd: { eventId: event.id, runId, user: 'alice', agent: 'claude-code', tool: 'postgres.orders' },
      });
      expect(JSON.parse(message.msg)).toEqual(event);
    });
    // authpriv (10): notice (5) for the normal steps, warning (4) for the failed run.
    expect(got.map((m) => m.pri)).toEqual([85, 85, 85, 85, 85, 85, 85, 84]);
  });

  it('loses nothing while the receiver is down and delivers in order once it listens again', async () => {
    const syslog = await receiver();
    await syslog.stop();
    const runner = await startSink(audit.sinkName('tcpdown'), syslog.port, { format: 'ocsf' });
    const runId = newRunId();
    const published = await audit.publishRun(runId, 6);
    await eventually(() => expect(runner.status()[0]?.lastError).toMatchObject({ code: 'CONNECTION' }));

    await syslog.start();
    const got = await eventually(() => {
      const messages = ours(syslog, runId);
      expect(messages).toHaveLength(6);
      return messages;
    });
    expect(ids(got)).toEqual(published.map((e) => e.id));
    expect(JSON.parse(got[0]?.msg as string)).toMatchObject({ class_uid: 6003, metadata: { uid: published[0]?.id } });
  });

  it('reconnects after the receiver drops the connection and re-sends what may not have arrived', async () => {
    const syslog = await receiver();
    const runner = await startSink(audit.sinkName('tcpdrop'), syslog.port);
    const runId = newRunId();
    const first = await audit.publishRun(runId, 3);
    await eventually(() => expect(ours(syslog, runId)).toHaveLength(3));

    syslog.dropConnections();
    const second = await audit.publishRun(runId, 3);
    const got = await eventually(() => {
      const seen = firstOccurrences(ids(ours(syslog, runId)));
      expect(seen).toHaveLength(6);
      return seen;
    });
    expect(got).toEqual([...first, ...second].map((e) => e.id));
    // The frames written just before the drop were sent again on the new connection.
    expect(ids(ours(syslog, runId)).length).toBeGreaterThan(6);
    expect(runner.status()[0]?.delivered).toBeGreaterThanOrEqual(6);
  });

  (tls ? it : it.skip)('delivers over TLS, verifying the receiver certificate against the configured CA', async () => {
    const identity = tls as TlsIdentity;
    const syslog = await receiver(identity);
    await startSink(audit.sinkName('tls'), syslog.port, { tls: true, ca: identity.caFile, servername: 'syslog.test' });
    const runId = newRunId();
    const published = await audit.publishRun(runId, 4);

    const got = await eventually(() => {
      const messages = ours(syslog, runId);
      expect(messages).toHaveLength(4);
      return messages;
    });
    expect(ids(got)).toEqual(published.map((e) => e.id));
  });

  (tls ? it : it.skip)('refuses a receiver certificate it cannot verify and keeps the events', async () => {
    const identity = tls as TlsIdentity;
    const syslog = await receiver(identity);
    // No CA: the self-signed certificate is not trusted by the system store.
    const runner = await startSink(audit.sinkName('tlsbad'), syslog.port, { tls: true, servername: 'syslog.test' });
    const runId = newRunId();
    await audit.publishRun(runId, 1);

    await eventually(() => expect(runner.status()[0]?.lastError).toMatchObject({ code: 'TLS' }));
    expect(runner.status()[0]?.lastError?.message).toMatch(/self.signed|certificate/i);
    expect(ours(syslog, runId)).toEqual([]);
    expect(runner.status()[0]?.lag).toBeGreaterThanOrEqual(1);
  });
});
