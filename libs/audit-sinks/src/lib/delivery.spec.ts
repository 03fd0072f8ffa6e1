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
});
