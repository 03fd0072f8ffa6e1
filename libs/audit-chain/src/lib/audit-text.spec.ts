import fc from 'fast-check';
import { hostileJson, hostileText, nestedValue } from '../testing/hostile-text';
import { AUDIT_TEXT_MARK, decodeAuditStrings, decodeAuditText, encodeAuditStrings, encodeAuditText, hasUnstorableText, isUnstorableText, withAuditStrings } from './audit-text';
import { readAuditMessage, storableAuditValue } from './stream-message';
import { AuditEvent, jsonDepth } from '@rungate/contracts';
import { canonicalJson } from './chain';

describe('audit text encoding', () => {
  it('marks NUL and lone surrogates in a reversible form a SIEM can decode with any JSON parser', () => {
    expect(encodeAuditText('a\u0000b')).toBe(`${AUDIT_TEXT_MARK}a\\u0000b`);
    expect(encodeAuditText('x\ud800y')).toBe(`${AUDIT_TEXT_MARK}x\\ud800y`);
    expect(encodeAuditText('\udc00"\\\n')).toBe(`${AUDIT_TEXT_MARK}\\udc00\\"\\\\\\n`);
    const body = encodeAuditText('a\u0000b').slice(AUDIT_TEXT_MARK.length);
    expect(JSON.parse(`"${body}"`)).toBe('a\u0000b');
  });

  it('leaves every other string exactly as it is, surrogate pairs and control characters included', () => {
    for (const text of ['', 'plain', 'emoji 😀 𝄞', 'tab\tnew\nline', '\\u0000 spelled out', '\ufffd alone', 'json: \ufffd after']) {
      expect(encodeAuditText(text)).toBe(text);
    }
  });

  it('encodes a string that already starts with the mark, so decoding is never ambiguous', () => {
    const looksEncoded = `${AUDIT_TEXT_MARK}abc`;
    expect(encodeAuditText(looksEncoded)).not.toBe(looksEncoded);
    expect(decodeAuditText(encodeAuditText(looksEncoded))).toBe(looksEncoded);
  });

  it('returns a marked string that is not a JSON string body as it is', () => {
    expect(decodeAuditText(`${AUDIT_TEXT_MARK}"broken`)).toBe(`${AUDIT_TEXT_MARK}"broken`);
  });

  it('round-trips any string, and its encoding is always storable', () => {
    fc.assert(
      fc.property(hostileText, (text) => {
        const encoded = encodeAuditText(text);
        expect(isUnstorableText(encoded)).toBe(false);
        expect(decodeAuditText(encoded)).toBe(text);
        if (!isUnstorableText(text) && !text.startsWith(AUDIT_TEXT_MARK)) expect(encoded).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips any JSON value, keys included, through JSON text', () => {
    fc.assert(
      fc.property(hostileJson, (value) => {
        const encoded = encodeAuditStrings(value);
        expect(hasUnstorableText(encoded)).toBe(false);
        // JSON itself turns -0 into 0 (toEqual tells them apart); the encoding changes nothing else.
        const overTheWire: unknown = JSON.parse(JSON.stringify(encoded));
        expect(JSON.stringify(overTheWire)).toBe(JSON.stringify(encoded));
        expect(decodeAuditStrings(overTheWire)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 500 },
    );
  });

  it('hashes a value without such text exactly as before the encoding existed', () => {
    const clean = fc.jsonValue({ maxDepth: 4 }).filter((value) => !hasUnstorableText(value) && !JSON.stringify(value).includes(AUDIT_TEXT_MARK));
    fc.assert(fc.property(clean, (value) => expect(canonicalJson(encodeAuditStrings(value))).toBe(canonicalJson(value))), { numRuns: 500 });
  });

  it('keeps keys named __proto__ as plain keys', () => {
    const value = JSON.parse('{"__proto__": {"a\\u0000": 1}, "b": [1, "\\ud800"]}') as Record<string, unknown>;
    const encoded = encodeAuditStrings(value);
    expect(Object.keys(encoded)).toEqual(['__proto__', 'b']);
    expect(Object.getPrototypeOf(encoded)).toBe(Object.prototype);
    expect(JSON.stringify(encoded)).toBe(`{"__proto__":{"${AUDIT_TEXT_MARK}a\\\\u0000":1},"b":[1,"${AUDIT_TEXT_MARK}\\\\ud800"]}`);
  });

  it('walks values nested deeper than the call stack', () => {
    const deep = nestedValue(200_000, 'k\u0000', 'leaf\ud800');
    expect(hasUnstorableText(deep)).toBe(true);
    expect(hasUnstorableText(encodeAuditStrings(deep))).toBe(false);
  });

  it('withAuditStrings gives exactly encodeAuditStrings, and the value itself when nothing needs encoding', () => {
    fc.assert(
      fc.property(hostileJson, (value) => {
        const encoded = withAuditStrings(value);
        expect(canonicalJson(encoded)).toBe(canonicalJson(encodeAuditStrings(value)));
        if (canonicalJson(encodeAuditStrings(value)) === canonicalJson(value)) expect(encoded).toBe(value);
      }),
      { numRuns: 1000 },
    );
    const marked = { details: { [`${AUDIT_TEXT_MARK}key`]: 'plain' } };
    expect(withAuditStrings(marked)).not.toBe(marked);
    expect(withAuditStrings(marked)).toEqual(encodeAuditStrings(marked));
  });

  it('readAuditMessage reads hostile messages exactly as walking event and message apart did', () => {
    // The reading before it skipped the event's own walk when the message needs no encoding.
    const readApart = (text: string) => {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return { ok: false };
      }
      if (jsonDepth(json, 512) > 512) return { ok: false };
      const parsed = AuditEvent.safeParse(json);
      if (!parsed.success) return { ok: false };
      return { ok: true, event: storableAuditValue(parsed.data), published: storableAuditValue(json) };
    };
    const event = (extra: unknown, text: string) => ({ v: 1, id: text || 'id', time: 't', type: 'audit.run.decided', source: text, params: { [text]: text }, details: { extra }, [text]: extra });
    fc.assert(
      fc.property(hostileJson, hostileText, (extra, text) => {
        for (const message of [JSON.stringify(event(extra, text)), JSON.stringify(extra)]) {
          const read = readAuditMessage(message);
          const before = readApart(message);
          expect(read.ok).toBe(before.ok);
          if (read.ok && before.ok) {
            expect(canonicalJson(read.event)).toBe(canonicalJson(before.event));
            expect(canonicalJson(read.published)).toBe(canonicalJson(before.published));
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
