import { completedRunEvent } from '../testing/events';
import { OctetFrameDecoder, parseSyslogMessage } from '../testing/syslog-frames';
import { SyslogSinkConfig } from './config';
import { toOcsf } from './ocsf';
import { SyslogDelivery, asciiJson, escapeSdParamValue, formatSyslogMessage, frameOctetCounted, syslogSeverity, syslogTimestamp } from './syslog';

const header = { facility: 10, hostname: 'audit-0', procId: '4242', structuredDataId: 'rungate@32473' };

describe('RFC 5424 formatting', () => {
  it('escapes exactly ", \\ and ] inside PARAM-VALUE', () => {
    expect(escapeSdParamValue('a"b\\c]d')).toBe('a\\"b\\\\c\\]d');
    expect(escapeSdParamValue('plain [x] = ok')).toBe('plain [x\\] = ok');
    expect(escapeSdParamValue('')).toBe('');
  });

  it('writes the header, one SD element and the JSON event', () => {
    const event = completedRunEvent();
    const text = formatSyslogMessage(event, event, header);
    expect(text.startsWith(
      '<85>1 2025-03-04T05:06:07.890Z audit-0 rungate 4242 audit.run.completed ' +
        '[rungate@32473 eventId="0d6f0f4e-6a43-4c59-9d0e-3f4a3c1b2a10" runId="run-42" user="alice" agent="claude-code" ' +
        'tool="postgres.orders_by_customer" outcome="succeeded"] {',
    )).toBe(true);
    expect(JSON.parse(parseSyslogMessage(text).msg)).toEqual(event);
  });

  it('derives the severity from the event: failed, denied, refused and deny are warnings', () => {
    expect(syslogSeverity(completedRunEvent())).toBe(5);
    expect(syslogSeverity(completedRunEvent({ outcome: { status: 'failed' } }))).toBe(4);
    expect(syslogSeverity(completedRunEvent({ outcome: { status: 'denied' } }))).toBe(4);
    expect(syslogSeverity(completedRunEvent({ outcome: { status: 'refused' } }))).toBe(4);
    expect(syslogSeverity(completedRunEvent({ outcome: { status: 'unknown' } }))).toBe(5);
    expect(syslogSeverity(completedRunEvent({ outcome: undefined, decision: { effect: 'deny' } }))).toBe(4);
    expect(syslogSeverity(completedRunEvent({ outcome: undefined, decision: { effect: 'allow' } }))).toBe(5);
    const pri = (facility: number, event = completedRunEvent({ outcome: { status: 'failed' } })) =>
      parseSyslogMessage(formatSyslogMessage(event, event, { ...header, facility })).pri;
    expect(pri(10)).toBe(84);
    expect(pri(16)).toBe(132);
    expect(pri(0)).toBe(4);
  });

  it('survives hostile values: SD stays parseable, header fields stay tokens', () => {
    const event = completedRunEvent({
      type: 'audit.admin.a_very_long_event_type_name_beyond_limits',
      actor: { user: 'mallory"] [evil@1 x="y', groups: [], agent: 'back\\slash' },
      tool: 'tool ] with "quotes"',
    });
    const parsed = parseSyslogMessage(formatSyslogMessage(event, event, { ...header, hostname: 'host with space' }));
    expect(parsed.sd).toMatchObject({ user: 'mallory"] [evil@1 x="y', agent: 'back\\slash', tool: 'tool ] with "quotes"' });
    expect(parsed.msgId).toBe('audit.admin.a_very_long_event_ty');
    expect(parsed.msgId).toHaveLength(32);
    expect(parsed.hostname).toBe('host_with_space');
    expect(parsed.sdId).toBe('rungate@32473');
  });

  it('keeps the event timestamp when it is RFC 5424-valid, normalizes it otherwise', () => {
    expect(syslogTimestamp('2025-03-04T05:06:07.890Z')).toBe('2025-03-04T05:06:07.890Z');
    expect(syslogTimestamp('2025-03-04T05:06:07+02:00')).toBe('2025-03-04T05:06:07+02:00');
    expect(syslogTimestamp('2025-03-04T05:06:07.123456789Z')).toBe('2025-03-04T05:06:07.123Z');
    expect(syslogTimestamp('March 4, 2025 05:06 UTC')).toBe('2025-03-04T05:06:00.000Z');
    expect(syslogTimestamp('yesterday')).toBe('-');
  });

  it('writes MSG as pure ASCII JSON that parses to the same value (no BOM needed)', () => {
    const value = { user: 'zoë', note: '日本 ✓ \u2028 😀', quote: '"' };
    const json = asciiJson(value);
    expect(/^[\x20-\x7e]*$/.test(json)).toBe(true);
    expect(JSON.parse(json)).toEqual(value);
  });

  it('carries OCSF in MSG when the sink format is ocsf', () => {
    const event = completedRunEvent();
    const parsed = parseSyslogMessage(formatSyslogMessage(event, toOcsf(event), header));
    expect(JSON.parse(parsed.msg)).toMatchObject({ class_uid: 6003, metadata: { uid: event.id } });
    expect(parsed.sd['eventId']).toBe(event.id);
  });
});

describe('RFC 6587 octet counting', () => {
  it('prefixes the byte length, not the character length', () => {
    const frame = frameOctetCounted('<13>1 - - - - - - zoë');
    expect(frame.toString('utf8')).toBe('22 <13>1 - - - - - - zoë');
    expect(Buffer.byteLength('<13>1 - - - - - - zoë')).toBe(22);
  });

  it('round-trips many frames however the stream is split', () => {
    const messages = ['a', 'é'.repeat(300), '<85>1 x\n with newline', ' leading space'];
    const bytes = Buffer.concat(messages.map(frameOctetCounted));
    for (const size of [1, 2, 7, 64, bytes.length]) {
      const decoder = new OctetFrameDecoder();
      const out: string[] = [];
      for (let i = 0; i < bytes.length; i += size) out.push(...decoder.push(bytes.subarray(i, i + size)));
      expect(out).toEqual(messages);
    }
  });

  it('frames each event of a batch separately, in order', () => {
    const delivery = new SyslogDelivery(SyslogSinkConfig.parse({ type: 'syslog', name: 's', host: '127.0.0.1', hostname: 'h' }));
    const events = ['a', 'b', 'c'].map((id, i) => ({ seq: i + 1, event: completedRunEvent({ id }) }));
    const messages = new OctetFrameDecoder().push(delivery.frames({ events, attempt: 1 }));
    expect(messages.map((m) => parseSyslogMessage(m).sd['eventId'])).toEqual(['a', 'b', 'c']);
  });
});
