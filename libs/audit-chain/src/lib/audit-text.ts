import { hasLoneSurrogate } from '@rungate/contracts';

/**
 * The one encoding of text in audit events (docs/siem.md, "Text in events").
 *
 * JSON can carry any JavaScript string, but PostgreSQL cannot store NUL (U+0000) in text or
 * jsonb, nor a lone UTF-16 surrogate (half of a pair, which is not Unicode at all), and many
 * SIEMs mangle both. A string holding either is therefore written in a marked, reversible
 * form before it is hashed, stored, streamed or forwarded:
 *
 *   AUDIT_TEXT_MARK + the inside of the string's JSON literal (JSON.stringify without the quotes)
 *
 * so `a<NUL>b` becomes `\uFFFDjson:a\u0000b` (the escape spelled out as six ASCII characters).
 * Decoding is: strip the mark, wrap the rest in double quotes, parse it as a JSON string. A
 * string that already starts with the mark is encoded too, so decoding is never ambiguous.
 *
 * Every other string is left exactly as it is: events without such characters encode, hash
 * and store byte for byte as before, so chains written earlier keep verifying.
 */
export const AUDIT_TEXT_MARK = '\uFFFDjson:';

/** True when PostgreSQL cannot store the string as it is (NUL or a lone surrogate). */
export function isUnstorableText(text: string): boolean {
  return text.includes('\u0000') || hasLoneSurrogate(text);
}

/** The string as it is written into an audit event: itself, or its marked form. */
export function encodeAuditText(text: string): string {
  if (!isUnstorableText(text) && !text.startsWith(AUDIT_TEXT_MARK)) return text;
  return AUDIT_TEXT_MARK + JSON.stringify(text).slice(1, -1);
}

/**
 * The original string of an encoded one. A marked string that is not a valid JSON string
 * body was not written by encodeAuditText (an older publisher's text) and is returned as is.
 */
export function decodeAuditText(text: string): string {
  if (!text.startsWith(AUDIT_TEXT_MARK)) return text;
  try {
    const decoded: unknown = JSON.parse(`"${text.slice(AUDIT_TEXT_MARK.length)}"`);
    return typeof decoded === 'string' ? decoded : text;
  } catch {
    return text;
  }
}

type Container = unknown[] | Record<string, unknown>;

const isContainer = (value: unknown): value is Container => value !== null && typeof value === 'object';

/** Own, enumerable, like JSON.parse's: a key named `__proto__` must not set the prototype. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * A copy of a JSON value with `walk` applied to every string, object keys included. Without
 * recursion: a value may be nested deeper than the call stack (a message someone else put
 * on the stream), and must still be walked rather than crash the chain writer.
 */
function mapStrings(value: unknown, walk: (text: string) => string): unknown {
  const pending: [Container, Container][] = [];
  const copyOf = (item: unknown): unknown => {
    if (typeof item === 'string') return walk(item);
    if (!isContainer(item)) return item;
    const copy: Container = Array.isArray(item) ? new Array<unknown>(item.length) : {};
    pending.push([item, copy]);
    return copy;
  };
  const result = copyOf(value);
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [source, copy] = next;
    if (Array.isArray(source)) source.forEach((item, i) => ((copy as unknown[])[i] = copyOf(item)));
    else for (const key of Object.keys(source)) define(copy as Record<string, unknown>, walk(key), copyOf(source[key]));
  }
  return result;
}

/** Whether some string of a JSON value (or key) satisfies `test`; without recursion, like mapStrings. */
function someString(value: unknown, test: (text: string) => boolean): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === 'string') {
      if (test(item)) return true;
    } else if (Array.isArray(item)) {
      for (const member of item) pending.push(member);
    } else if (isContainer(item)) {
      for (const [key, member] of Object.entries(item)) {
        if (test(key)) return true;
        pending.push(member);
      }
    }
  }
  return false;
}

/** Every string of a value (object keys too) in its audit encoding. Events are encoded once, where they are made. */
export function encodeAuditStrings<T>(value: T): T {
  return mapStrings(value, encodeAuditText) as T;
}

/**
 * What encodeAuditStrings gives, without copying a value it leaves unchanged: one that holds
 * no string (key or value) that encodeAuditText would change. The value itself is returned
 * then, not a copy.
 */
export function withAuditStrings<T>(value: T): T {
  return someString(value, (text) => isUnstorableText(text) || text.startsWith(AUDIT_TEXT_MARK)) ? encodeAuditStrings(value) : value;
}

/** The inverse of encodeAuditStrings: what the publisher had before encoding. */
export function decodeAuditStrings<T>(value: T): T {
  return mapStrings(value, decodeAuditText) as T;
}

/** True when some string of a JSON value (or key) cannot be stored as it is. */
export function hasUnstorableText(value: unknown): boolean {
  return someString(value, isUnstorableText);
}
