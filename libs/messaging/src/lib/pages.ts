import { RungateError } from '@rungate/contracts';

/**
 * A page of a list that would not fit one NATS message (the default max_payload is 1 MiB):
 * what one reply may carry, leaving room for the rest of the reply and its envelope.
 */
export const PAGE_BYTES = 640 * 1024;

/**
 * How far from `start` the items fit in `budgetBytes` of JSON: the end index (exclusive).
 * With `atLeastOne`, one item is taken whatever it weighs, so paging always ends.
 */
export function endWithin(items: readonly unknown[], start: number, budgetBytes: number, atLeastOne = true): { end: number; left: number } {
  let left = budgetBytes;
  let end = start;
  while (end < items.length) {
    const size = Buffer.byteLength(JSON.stringify(items[end])) + 1;
    if (size > left && !(atLeastOne && end === start)) break;
    left -= size;
    end++;
  }
  return { end, left };
}

/** Opaque cursors over a list: an offset, so a client cannot mistake them for anything else. */
export function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  try {
    const { o } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown };
    if (typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) return o;
  } catch {
    // fall through
  }
  throw new RungateError('BAD_REQUEST', 'invalid cursor: use the nextCursor of a previous answer');
}
