import { AckPolicy, DeliverPolicy, nanos } from 'nats';
import { AuditSinkConfig, AuditSinkConfigs, sinkAckWaitMs, sinkMaxAckPending, syslogPort, type AuditSinkConfigInput } from './config';
import { sinkConsumerConfig } from './sink-consumer';

const webhook = { type: 'webhook', name: 'splunk', url: 'https://siem.example.com/hooks/rungate', secret: 'env:SPLUNK_HOOK_SECRET' };
const syslog = { type: 'syslog', name: 'qradar', host: 'qradar.example.com' };

function issues(input: unknown): string[] {
  const result = AuditSinkConfig.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('AuditSinkConfig', () => {
  it('fills defaults: native format, all of audit.>, from the beginning, 10s timeout, unbatched', () => {
    expect(AuditSinkConfig.parse(webhook)).toEqual({
      ...webhook,
      format: 'native',
      subject: 'audit.>',
      start: 'all',
      timeout: 10_000,
      retry: { initialDelay: 1000, maxDelay: 60_000, alertAfter: 5 },
    });
    expect(AuditSinkConfig.parse(syslog)).toMatchObject({ tls: false, facility: 10, structuredDataId: 'rungate@32473' });
  });

  it.each([
    ['http://127.0.0.1:8080/hook'],
    ['http://127.1.2.3/hook'],
    ['http://localhost:9000/'],
    ['http://[::1]:9000/'],
    ['https://10.0.0.8/hook'],
  ])('accepts webhook url %s', (url) => {
    expect(issues({ ...webhook, url })).toEqual([]);
  });

  it.each([
    ['http://siem.example.com/hook', 'must be https://'],
    ['http://10.0.0.8/hook', 'must be https://'],
    ['http://127.0.0.1.nip.io/hook', 'must be https://'],
    ['ftp://siem.example.com/', 'must be https://'],
    ['https://user:pass@siem.example.com/', 'no credentials in the URL'],
    ['not a url', 'url'],
  ])('refuses webhook url %s', (url, message) => {
    expect(issues({ ...webhook, url }).join('\n')).toContain(message);
  });

  it('refuses a literal secret and a missing one', () => {
    expect(issues({ ...webhook, secret: 'hunter2' }).join()).toContain('must be a secret reference');
    expect(issues({ ...webhook, secret: undefined }).join()).toContain('secret');
  });

  it('checks names, subjects, start positions, batches and retry bounds', () => {
    expect(issues({ ...webhook, name: 'Splunk Prod' }).join()).toContain('name');
    expect(issues({ ...webhook, name: 'a.b' }).join()).toContain('name');
    expect(issues({ ...webhook, subject: 'rungate.exec.>' }).join()).toContain('subject');
    expect(issues({ ...webhook, subject: 'audit' }).join()).toContain('subject');
    expect(issues({ ...webhook, subject: 'audit.run.>' })).toEqual([]);
    expect(issues({ ...webhook, subject: 'audit.*.failed' })).toEqual([]);
    expect(issues({ ...webhook, start: 'new' })).toEqual([]);
    expect(issues({ ...webhook, start: { sequence: 1200 } })).toEqual([]);
    expect(issues({ ...webhook, start: { time: '2025-01-01T00:00:00Z' } })).toEqual([]);
    expect(issues({ ...webhook, start: { sequence: 0 } }).join()).toContain('start');
    expect(issues({ ...webhook, start: { time: 'yesterday' } }).join()).toContain('start');
    expect(issues({ ...webhook, batch: { maxEvents: 1 } }).join()).toContain('batch.maxEvents');
    expect(issues({ ...webhook, batch: { maxEvents: 1001 } }).join()).toContain('batch.maxEvents');
    expect(issues({ ...webhook, retry: { initialDelay: '10s', maxDelay: '1s' } }).join()).toContain('retry.maxDelay');
    expect(issues({ ...webhook, timeout: 'soon' }).join()).toContain('timeout');
    expect(issues({ ...webhook, extra: true }).join()).toContain('extra');
  });

  it('reads syslog facilities by name or number and keeps TLS options with tls', () => {
    expect(AuditSinkConfig.parse({ ...syslog, facility: 'local4' })).toMatchObject({ facility: 20 });
    expect(AuditSinkConfig.parse({ ...syslog, facility: 13 })).toMatchObject({ facility: 13 });
    expect(issues({ ...syslog, facility: 'audit' }).join()).toContain('facility');
    expect(issues({ ...syslog, facility: 24 }).join()).toContain('facility');
    expect(issues({ ...syslog, ca: '/etc/ca.pem' }).join()).toContain('ca and servername need tls: true');
    expect(issues({ ...syslog, tls: true, ca: '/etc/ca.pem', servername: 'syslog.internal' })).toEqual([]);
    expect(issues({ ...syslog, structuredDataId: 'rungate' }).join()).toContain('structuredDataId');
    expect(issues({ ...syslog, structuredDataId: 'rg@1234.5' })).toEqual([]);
  });

  it('defaults the syslog port to 6514 with TLS and 601 without', () => {
    expect(syslogPort({ tls: true })).toBe(6514);
    expect(syslogPort({ tls: false })).toBe(601);
    expect(syslogPort({ tls: false, port: 514 })).toBe(514);
  });

  it('accepts its own output again (SinkRunner.start takes raw or parsed sinks)', () => {
    const parsed: AuditSinkConfigInput[] = [AuditSinkConfig.parse(webhook), AuditSinkConfig.parse({ ...syslog, facility: 'local0' })];
    expect(AuditSinkConfigs.parse(parsed)).toEqual(parsed);
  });

  it('refuses two sinks with the same name (they would share a consumer)', () => {
    const result = AuditSinkConfigs.safeParse([webhook, { ...syslog, name: 'splunk' }]);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({ path: [1, 'name'], message: 'duplicate sink name "splunk"' });
  });
});

describe('the durable consumer of a sink', () => {
  it('is an explicit-ack pull consumer that never gives up on a message', () => {
    const sink = AuditSinkConfig.parse(webhook);
    expect(sinkConsumerConfig(sink)).toEqual({
      durable_name: 'rungate-sink-splunk',
      description: 'Rungate webhook audit sink "splunk"',
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(20_000),
      max_ack_pending: 1,
      max_deliver: -1,
      filter_subject: 'audit.>',
      replay_policy: 'instant',
      deliver_policy: DeliverPolicy.All,
    });
  });

  it('holds one delivery in flight: a batch when batching, else one message', () => {
    expect(sinkMaxAckPending(AuditSinkConfig.parse(webhook))).toBe(1);
    expect(sinkMaxAckPending(AuditSinkConfig.parse({ ...webhook, batch: { maxEvents: 50 } }))).toBe(50);
  });

  it('outlasts one delivery attempt', () => {
    expect(sinkAckWaitMs({ timeout: 1000 })).toBe(10_000);
    expect(sinkAckWaitMs({ timeout: 30_000 })).toBe(60_000);
  });

  it('starts where configured', () => {
    const at = (start: unknown) => sinkConsumerConfig(AuditSinkConfig.parse({ ...webhook, start }));
    expect(at('new')).toMatchObject({ deliver_policy: DeliverPolicy.New });
    expect(at({ sequence: 77 })).toMatchObject({ deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 77 });
    expect(at({ time: '2025-01-01T01:00:00+01:00' })).toMatchObject({
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: '2025-01-01T00:00:00.000Z',
    });
  });
});
