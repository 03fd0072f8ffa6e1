import { createHmac } from 'node:crypto';
import { completedRunEvent } from '../testing/events';
import { WebhookSinkConfig } from './config';
import { retryAfterMs, signWebhook, verifyWebhookSignature, WebhookDelivery } from './webhook';

describe('webhook signatures', () => {
  const secret = 'whsec-test';
  const body = '{"id":"e1","type":"audit.run.completed"}';

  it('is HMAC-SHA256 over "<timestamp>.<raw body>", hex, prefixed sha256=', () => {
    // Independent of the implementation: the documented recipe, spelled out.
    const expected = createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex');
    expect(signWebhook(secret, 1700000000, body)).toBe(`sha256=${expected}`);
    expect(signWebhook(secret, 1700000000, Buffer.from(body))).toBe(`sha256=${expected}`);
  });

  it('matches a fixed vector (printf \'%s\' "<ts>.<body>" | openssl dgst -sha256 -hmac whsec-test)', () => {
    expect(signWebhook(secret, 1700000000, body)).toBe('sha256=c47cf06112fec818824eed0ce0bd98662e61333e5b449f0a24358e8e4e5e4b6c');
  });

  const now = 1700000100;
  const valid = { secret, body, timestamp: '1700000000', signature: signWebhook(secret, 1700000000, body), now };

  it('verifies a genuine delivery within the tolerance window', () => {
    expect(verifyWebhookSignature(valid)).toBe(true);
  });

  it.each([
    ['a changed body', { body: body.replace('e1', 'e2') }],
    ['a re-serialized body', { body: JSON.stringify(JSON.parse(body), null, 1) }],
    ['another secret', { secret: 'other' }],
    ['another timestamp', { timestamp: '1700000001' }],
    ['a stale timestamp', { now: 1700000000 + 301 }],
    ['a timestamp from the future', { now: 1700000000 - 301 }],
    ['no timestamp', { timestamp: undefined }],
    ['a non-numeric timestamp', { timestamp: '1700000000.5' }],
    ['no signature', { signature: undefined }],
    ['a truncated signature', { signature: valid.signature.slice(0, 20) }],
    ['a signature without prefix', { signature: valid.signature.slice('sha256='.length) }],
  ])('rejects %s', (_label, change) => {
    expect(verifyWebhookSignature({ ...valid, ...change })).toBe(false);
  });
});

describe('webhook bodies', () => {
  const base = { type: 'webhook', name: 'siem', url: 'https://siem.example.com/hook', secret: 'env:HOOK_SECRET' };

  it('sends one native event as the AuditEvent JSON', () => {
    const delivery = new WebhookDelivery(WebhookSinkConfig.parse(base), 's');
    const event = completedRunEvent();
    expect(JSON.parse(delivery.body({ events: [{ seq: 1, event }], attempt: 1 }))).toEqual(event);
  });

  it('sends a JSON array when batching, OCSF when asked', () => {
    const delivery = new WebhookDelivery(WebhookSinkConfig.parse({ ...base, format: 'ocsf', batch: { maxEvents: 10 } }), 's');
    const events = [completedRunEvent({ id: 'a' }), completedRunEvent({ id: 'b' })].map((event, i) => ({ seq: i + 1, event }));
    const body = JSON.parse(delivery.body({ events, attempt: 1 })) as { class_uid: number; metadata: { uid: string } }[];
    expect(body.map((e) => [e.class_uid, e.metadata.uid])).toEqual([
      [6003, 'a'],
      [6003, 'b'],
    ]);
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2025-03-04T05:06:00Z');

  it('reads seconds and HTTP dates, and ignores anything else', () => {
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs(['3', '9'], now)).toBe(3000);
    expect(retryAfterMs('Tue, 04 Mar 2025 05:06:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Tue, 04 Mar 2025 05:05:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});
