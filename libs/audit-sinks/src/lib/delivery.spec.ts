import { AUDIT_TEXT_MARK, decodeAuditStrings, encodeAuditStrings } from '@rungate/audit-chain';
import { completedRunEvent } from '../testing/events';
import { decodeStreamEvent, formatEvent } from './delivery';

const storedAt = new Date('2025-03-04T05:06:08.000Z');
const encode = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

describe('reading AUDIT messages', () => {
  it('forwards a valid event as published, keys a newer publisher added included', () => {
    const event = { ...completedRunEvent(), addedLater: { x: 1 } };
    const decoded = decodeStreamEvent({ seq: 9, subject: 'audit.run.completed', data: encode(event), storedAt });
    expect(decoded).toEqual({ seq: 9, event });
    expect(formatEvent(decoded.event, 'native')).toEqual(event);
  });

  it.each([
    ['not JSON', '{"id":', 'not JSON'],
    ['not an audit event', { hello: 'world' }, 'id:'],
  ])('forwards %s as audit.admin.malformed_event with the raw text', (_label, payload, problem) => {
    const decoded = decodeStreamEvent({ seq: 10, subject: 'audit.run.x', data: encode(payload), storedAt });
    expect(decoded.event).toMatchObject({
      v: 1,
      id: 'AUDIT-10',
      time: '2025-03-04T05:06:08.000Z',
      type: 'audit.admin.malformed_event',
      source: 'audit-sinks',
      details: { subject: 'audit.run.x', streamSequence: 10, data: typeof payload === 'string' ? payload : JSON.stringify(payload) },
    });
    expect(String(decoded.event.details?.['problem'])).toContain(problem);
  });

  it('forwards an older publisher\'s raw NUL and lone surrogates in the audit text encoding, as the chain stores them', () => {
    const event = { ...completedRunEvent(), params: { note: 'a\u0000b' }, actor: { user: 'x\ud800', groups: [] } };
    const decoded = decodeStreamEvent({ seq: 11, subject: 'audit.run.completed', data: encode(event), storedAt });
    expect(decoded.event).toEqual(encodeAuditStrings(event));
    expect(decoded.event.actor?.user).toBe(`${AUDIT_TEXT_MARK}x\\ud800`);
    expect(decodeAuditStrings(decoded.event)).toEqual(event);
  });

  it('forwards a message nested deeper than it can render as malformed, its raw text kept', () => {
    const deep = `{"v":1,"id":"d","time":"2025-01-01T00:00:00Z","type":"audit.run.completed","source":"x","details":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const decoded = decodeStreamEvent({ seq: 12, subject: 'audit.run.completed', data: encode(deep), storedAt });
    expect(decoded.event).toMatchObject({ type: 'audit.admin.malformed_event', details: { problem: 'nested deeper than 512 levels', data: deep } });
    expect(() => JSON.stringify(formatEvent(decoded.event, 'ocsf'))).not.toThrow();
  });

  it('encodes a malformed message\'s NUL like any other text', () => {
    const decoded = decodeStreamEvent({ seq: 13, subject: 'audit.run.x', data: encode('{"a\u0000'), storedAt });
    expect(decoded.event.details?.['data']).toBe(`${AUDIT_TEXT_MARK}{\\"a\\u0000`);
  });
});
