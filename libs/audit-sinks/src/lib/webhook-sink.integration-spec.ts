import type { AuditEvent } from '@rungate/contracts';
import { connectNats } from '@rungate/messaging';
import { eventually } from '@rungate/test-util';
import { AuditHarness, FAST_RETRY, RecordingLog, newRunId } from '../testing/harness';
import { WebhookReceiver, type ReceivedRequest } from '../testing/receivers';
import { SinkRunner } from './sink-runner';
import { verifyWebhookSignature } from './webhook';

const SECRET = 'whsec-integration';
const env = { HOOK_SECRET: SECRET };

/** Events of one run as the receiver got them, in arrival order (a batch counts element by element). */
function received(receiver: WebhookReceiver, runId: string): AuditEvent[] {
  return receiver.requests
    .flatMap((r) => {
      const body = JSON.parse(r.raw.toString('utf8')) as AuditEvent | AuditEvent[];
      return Array.isArray(body) ? body : [body];
    })
    .filter((e) => e.runId === runId);
}

function signedCorrectly(request: ReceivedRequest): boolean {
  return verifyWebhookSignature({
    secret: SECRET,
    body: request.raw,
    timestamp: request.headers['x-rungate-timestamp'] as string | undefined,
    signature: request.headers['x-rungate-signature'] as string | undefined,
  });
}

describe('webhook sink on the real AUDIT stream', () => {
  const audit = new AuditHarness();
  let receiver: WebhookReceiver;
  const runners: SinkRunner[] = [];

  beforeAll(() => audit.open());
  afterAll(() => audit.close());

  beforeEach(async () => {
    receiver = await new WebhookReceiver().start();
  });

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop()));
    await receiver.stop();
    await audit.removeDurables();
  });

  async function startSink(name: string, extra: Record<string, unknown> = {}, log = new RecordingLog(), nc = audit.nc) {
    const runner = new SinkRunner({ env, log, lagRefreshMs: 100 });
    runners.push(runner);
    await runner.start(
      [{ type: 'webhook', name, url: receiver.url, secret: 'env:HOOK_SECRET', start: { sequence: await audit.nextSequence() }, retry: FAST_RETRY, timeout: 2000, ...extra }],
      nc,
    );
    return runner;
  }

  it('delivers published events signed, one per request, in stream order', async () => {
    const runner = await startSink(audit.sinkName('order'));
    const runId = newRunId();
    const published = await audit.publishRun(runId, 12);

    const got = await eventually(() => {
      const events = received(receiver, runId);
      expect(events).toHaveLength(12);
      return events;
    });
    expect(got).toEqual(published);
    const ours = receiver.requests.filter((r) => r.raw.includes(runId));
    for (const request of ours) {
      expect(signedCorrectly(request)).toBe(true);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['x-rungate-event-id']).toBe((JSON.parse(request.raw.toString()) as AuditEvent).id);
      expect(request.headers['x-rungate-delivery-attempt']).toBe('1');
    }
    const [status] = runner.status();
    expect(status).toMatchObject({ type: 'webhook', format: 'native', lastError: null, consecutiveFailures: 0 });
    expect(status?.delivered).toBeGreaterThanOrEqual(12);
    expect(status?.lastDeliveredSeq).toBeGreaterThanOrEqual(published.length);
  });

  it('holds events while the receiver answers 500, without slowing publishers, then delivers them all in order', async () => {
    receiver.answer = () => 500;
    const log = new RecordingLog();
    const name = audit.sinkName('down500');
    const runner = await startSink(name, {}, log);
    const runId = newRunId();

    const slowest: number[] = [];
    const published: AuditEvent[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      published.push(...(await audit.publishRun(runId, 1, { details: { index: i } })));
      slowest.push(performance.now() - started);
    }
    // Publishers wait for JetStream only; a failing sink is not on their path.
    expect(Math.max(...slowest)).toBeLessThan(1000);

    const failing = await eventually(() => {
      const [status] = runner.status();
      expect(status?.consecutiveFailures).toBeGreaterThanOrEqual(4);
      expect(status?.lag).toBeGreaterThanOrEqual(20);
      return status;
    });
    expect(failing?.lastError).toMatchObject({ code: 'HTTP_STATUS' });
    expect(failing?.lastError?.message).toContain('HTTP 500');
    expect(failing?.state).toBe('retrying');
    expect(log.lines.some((l) => l.level === 'error' && l.message.includes('never skipped') && l.message.includes(name))).toBe(true);
    expect(received(receiver, runId)).toEqual([]);

    receiver.answer = () => 204;
    const got = await eventually(() => {
      const events = received(receiver, runId);
      expect(events).toHaveLength(20);
      return events;
    });
    expect(got.map((e) => e.id)).toEqual(published.map((e) => e.id));
    expect(runner.status()[0]).toMatchObject({ consecutiveFailures: 0 });
    expect(log.lines.some((l) => l.level === 'log' && l.message.includes('delivers again'))).toBe(true);
  });

  it('retries a 4xx rejection instead of dropping the event, and says why', async () => {
    let rejections = 0;
    receiver.answer = () => (rejections++ < 3 ? 401 : 204);
    const log = new RecordingLog();
    const runner = await startSink(audit.sinkName('four01'), {}, log);
    const runId = newRunId();
    const published = await audit.publishRun(runId, 2);

    const got = await eventually(() => {
      const events = received(receiver, runId);
      expect(events).toHaveLength(2);
      return events;
    });
    expect(got).toEqual(published);
    expect(runner.status()[0]?.lastError?.message).toMatch(/HTTP 401.*check URL, secret and receiver config.*nothing is skipped/);
    expect(log.lines.some((l) => l.message.includes('HTTP 401'))).toBe(true);
  });

  it('waits for a receiver that is not listening and delivers once it is back', async () => {
    await receiver.stop();
    const runner = await startSink(audit.sinkName('offline'));
    const runId = newRunId();
    const published = await audit.publishRun(runId, 5);

    await eventually(() => expect(runner.status()[0]?.lastError).toMatchObject({ code: 'CONNECTION' }));
    expect(runner.status()[0]?.lastError?.message).toContain('ECONNREFUSED');

    await receiver.start();
    const got = await eventually(() => {
      const events = received(receiver, runId);
      expect(events).toHaveLength(5);
      return events;
    });
    expect(got).toEqual(published);
  });

  it('resumes after a restart from the last acknowledged event, re-sending none of them', async () => {
    const name = audit.sinkName('restart');
    const start = { sequence: await audit.nextSequence() };
    const first = await startSink(name, { start });
    const runId = newRunId();
    const before = await audit.publishRun(runId, 5);
    await eventually(() => expect(received(receiver, runId)).toHaveLength(5));
    await first.stop();

    const during = await audit.publishRun(runId, 5);
    expect(received(receiver, runId)).toHaveLength(5);

    // Same sink name, same durable: `start` only applies to a consumer that does not exist yet.
    await startSink(name, { start: 'all' });
    const after = await audit.publishRun(runId, 2);
    const got = await eventually(() => {
      const events = received(receiver, runId);
      expect(events).toHaveLength(12);
      return events;
    });
    expect(got.map((e) => e.id)).toEqual([...before, ...during, ...after].map((e) => e.id));
  });

  it('after a crash mid-retry, the next runner gets the held event again: nothing lost, order kept', async () => {
    receiver.answer = () => 503;
    const name = audit.sinkName('crash');
    const crashing = await connectNats({ name: 'audit-sinks-crashing' });
    const start = { sequence: await audit.nextSequence() };
    const doomed = new SinkRunner({ env, lagRefreshMs: 100 });
    await doomed.start([{ type: 'webhook', name, url: receiver.url, secret: 'env:HOOK_SECRET', start, retry: FAST_RETRY, timeout: 1000 }], crashing);
    const runId = newRunId();
    const published = await audit.publishRun(runId, 3);
    await eventually(() => expect(doomed.status()[0]?.consecutiveFailures).toBeGreaterThanOrEqual(2));

    // The process dies: its connection goes without acking or handing anything back.
    await crashing.close();
    await doomed.stop();
    receiver.answer = () => 204;

    await startSink(name, { start, timeout: 1000 });
    const got = await eventually(() => {
      const events = received(receiver, runId);
      expect(events).toHaveLength(3);
      return events;
    }, 40_000);
    expect(got).toEqual(published);
  });

  it('keeps stream order in batch mode after a crash with a partial batch in flight', async () => {
    receiver.answer = () => 503;
    const name = audit.sinkName('batchcrash');
    const crashing = await connectNats({ name: 'audit-sinks-crashing' });
    const start = { sequence: await audit.nextSequence() };
    const config = { type: 'webhook', name, url: receiver.url, secret: 'env:HOOK_SECRET', start, retry: FAST_RETRY, timeout: 1000, batch: { maxEvents: 5 } } as const;
    const doomed = new SinkRunner({ env, lagRefreshMs: 100 });
    await doomed.start([config], crashing);
    const runId = newRunId();
    const held = await audit.publishRun(runId, 3);
    await eventually(() => expect(doomed.status()[0]?.consecutiveFailures).toBeGreaterThanOrEqual(2));
    await crashing.close();
    await doomed.stop();
    receiver.answer = () => 204;

    // Newer events are available at once; the held ones only after their ack wait.
    const newer = await audit.publishRun(runId, 2);
    const log = new RecordingLog();
    await startSink(name, { ...config }, log);
    const got = await eventually(() => {
      const events = received(receiver, runId);
      expect(events).toHaveLength(5);
      return events;
    }, 40_000);
    expect(got.map((e) => e.id)).toEqual([...held, ...newer].map((e) => e.id));
    expect(log.lines.some((l) => l.message.includes('held by a previous runner'))).toBe(true);
  });

  it('batches as JSON arrays when configured, each request signed over the whole array', async () => {
    const runner = await startSink(audit.sinkName('batch'), { batch: { maxEvents: 5 } });
    const runId = newRunId();
    const published = await audit.publishRun(runId, 12);

    const got = await eventually(() => {
      const events = received(receiver, runId);
      expect(events).toHaveLength(12);
      return events;
    });
    expect(got).toEqual(published);
    for (const request of receiver.requests) {
      const body = JSON.parse(request.raw.toString()) as unknown[];
      expect(Array.isArray(body)).toBe(true);
      expect(body.length).toBeLessThanOrEqual(5);
      expect(request.headers['x-rungate-event-count']).toBe(String(body.length));
      expect(signedCorrectly(request)).toBe(true);
    }
    expect(runner.status()[0]?.lastError).toBeNull();
  });

  it('sends OCSF API Activity when the sink format is ocsf', async () => {
    await startSink(audit.sinkName('ocsf'), { format: 'ocsf' });
    const runId = newRunId();
    const [event] = await audit.publishRun(runId, 1, { type: 'audit.run.failed', outcome: { status: 'failed', errorCode: 'EXECUTION_FAILED' } });

    const request = await eventually(() => {
      const match = receiver.requests.find((r) => r.raw.includes(runId));
      expect(match).toBeDefined();
      return match as ReceivedRequest;
    });
    expect(signedCorrectly(request)).toBe(true);
    expect(JSON.parse(request.raw.toString())).toMatchObject({
      class_uid: 6003,
      activity_id: 3,
      type_uid: 600303,
      status_id: 2,
      status_code: 'EXECUTION_FAILED',
      severity_id: 3,
      actor: { user: { name: 'alice', groups: [{ name: 'sre' }] }, app_name: 'claude-code' },
      api: { operation: 'postgres.orders', service: { name: 'rungate' }, request: { uid: runId } },
      metadata: { uid: event?.id, version: '1.1.0', product: { name: 'Rungate', vendor_name: 'Rungate' } },
    });
  });

  it('recreates a deleted durable right after the last delivered event', async () => {
    const name = audit.sinkName('deleted');
    const log = new RecordingLog();
    const runner = await startSink(name, {}, log);
    const runId = newRunId();
    const before = await audit.publishRun(runId, 3);
    await eventually(() => expect(received(receiver, runId)).toHaveLength(3));

    await audit.jsm.consumers.delete('AUDIT', runner.status()[0]?.durable as string);
    const after = await audit.publishRun(runId, 3);
    const got = await eventually(() => {
      const events = received(receiver, runId);
      expect(events).toHaveLength(6);
      return events;
    });
    expect(got.map((e) => e.id)).toEqual([...before, ...after].map((e) => e.id));
    expect(log.lines.some((l) => l.level === 'error' && l.message.includes('was deleted'))).toBe(true);
  });

  it('refuses to start on a misconfigured sink, naming the key', async () => {
    const runner = new SinkRunner({ env: {} });
    await expect(
      runner.start([{ type: 'webhook', name: 'x', url: 'http://siem.example.com/', secret: 'env:HOOK_SECRET' }], audit.nc),
    ).rejects.toThrow('audit.sinks[0].url: must be https://');
    await expect(runner.start([{ type: 'webhook', name: 'x', url: receiver.url, secret: 'env:HOOK_SECRET' }], audit.nc)).rejects.toThrow(
      'audit sink "x": secret env:HOOK_SECRET: environment variable is not set',
    );
    expect(runner.status()).toEqual([]);
  });
});
