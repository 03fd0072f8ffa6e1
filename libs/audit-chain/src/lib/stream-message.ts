import { AuditEvent, jsonDepth } from '@rungate/contracts';
import { encodeAuditStrings, hasUnstorableText } from './audit-text';

/**
 * An event on the AUDIT stream nested deeper than this is not read as an event. Rungate's own
 * are a few levels deep; a deeper message (someone else wrote to the stream) would overflow
 * the stack of the canonical JSON, JSON.stringify or PostgreSQL's jsonb parser, and must not
 * stop the chain writer or a sink: it is kept as a malformed message instead.
 */
export const MAX_AUDIT_EVENT_DEPTH = 512;

/**
 * A value as it is chained, stored and forwarded. Rungate's publishers encode every event
 * (encodeAuditStrings) before it reaches the stream, so their events pass unchanged. A
 * message from an older publisher may still hold NUL or a lone surrogate: it gets the same
 * encoding the publisher would have given it, so no event is lost for its text. A value
 * without such text is never re-encoded (encoding is not idempotent: it marks what it encodes).
 */
export function storableAuditValue<T>(value: T): T {
  return hasUnstorableText(value) ? encodeAuditStrings(value) : value;
}

export type AuditMessage =
  /** `event` is the validated event (unknown keys dropped); `published` all that was published. Both storable. */
  | { ok: true; event: AuditEvent; published: Record<string, unknown> }
  | { ok: false; problem: string };

/**
 * Reads one AUDIT message the way the chain writer and every sink do, so they agree on what
 * is an event and on its bytes.
 */
export function readAuditMessage(text: string): AuditMessage {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  if (jsonDepth(json, MAX_AUDIT_EVENT_DEPTH) > MAX_AUDIT_EVENT_DEPTH) return { ok: false, problem: `nested deeper than ${MAX_AUDIT_EVENT_DEPTH} levels` };
  const parsed = AuditEvent.safeParse(json);
  if (!parsed.success) return { ok: false, problem: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  // The event's strings are some of the published ones: when those need no encoding, neither do its.
  if (!hasUnstorableText(json)) return { ok: true, event: parsed.data, published: json as Record<string, unknown> };
  return { ok: true, event: storableAuditValue(parsed.data), published: encodeAuditStrings(json as Record<string, unknown>) };
}
