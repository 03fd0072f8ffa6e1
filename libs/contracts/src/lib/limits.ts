/**
 * Size and shape limits that more than one service checks, in one place so they cannot
 * disagree (ADR 13).
 */

/**
 * The validated parameters of one call, written as a JSON object, take at most this many
 * bytes of UTF-8. Policy refuses more with PARAMS_TOO_LARGE before anything is signed. It
 * keeps every message that carries them within its own cap: the run ticket (parameters and
 * `asenv` copies, base64url-encoded, under MAX_TICKET_CHARS), each audit event, and a
 * syslog line a SIEM will accept.
 */
export const MAX_PARAMS_BYTES = 16 * 1024;

/** A run ticket (compact JWS) is at most this long; executors refuse longer ones unread. */
export const MAX_TICKET_CHARS = 64 * 1024;

/**
 * How deeply a caller's JSON value may nest where it crosses the bus (tool arguments, the
 * idempotency key). JSON.stringify recurses and overflows the stack a few thousand levels
 * down, and no runbook parameter is more than a scalar, so anything deeper is cut here.
 */
export const MAX_FORWARDED_JSON_DEPTH = 64;

/** Depth of a JSON value (a scalar is 0, `[]` is 1), counted without recursion and no further than `limit + 1`. */
export function jsonDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [item, depth] = pending.pop() as [unknown, number];
    if (item === null || typeof item !== 'object') continue;
    const inner = depth + 1;
    if (inner > deepest) deepest = inner;
    if (deepest > limit) return deepest;
    for (const member of Array.isArray(item) ? item : Object.values(item)) pending.push([member, inner]);
  }
  return deepest;
}
