import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), no whitespace, undefined
 * members left out (in arrays: null), non-finite numbers as null; the same event always
 * hashes the same. Written as one pass with string concatenation: the chain writer runs it
 * for every event, and it was the largest cost of writing one.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = value[i];
      out += item === undefined ? 'null' : canonicalJson(item);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const member = record[key];
    if (member === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += `${JSON.stringify(key)}:${canonicalJson(member)}`;
  }
  return `${out}}`;
}

/** hash = sha256(prevHash ‖ canonical(event)) */
export function chainHash(prevHash: string, event: unknown): string {
  return chainHashOfCanonical(prevHash, canonicalJson(event));
}

/** chainHash for an event already in canonical form (the writer stores that text too). */
export function chainHashOfCanonical(prevHash: string, canonical: string): string {
  return createHash('sha256').update(prevHash).update(canonical).digest('hex');
}

export interface ChainedRecord {
  seq: number;
  id: string;
  event: unknown;
  prevHash: string;
  hash: string;
}

export type ChainBreak = {
  seq: number;
  id: string;
  kind: 'altered' | 'missing-or-reordered';
  expected: string;
  actual: string;
};

export interface ChainVerification {
  ok: boolean;
  checked: number;
  head?: string;
  firstBreak?: ChainBreak;
}

/**
 * Recomputes a chain in sequence order and names the first broken link: a record whose
 * content no longer matches its hash (altered), or whose predecessor is not the record
 * before it (a row deleted, inserted or moved).
 */
export function verifyChain(records: Iterable<ChainedRecord>, startPrevHash = GENESIS_HASH): ChainVerification {
  let previous = startPrevHash;
  let checked = 0;
  for (const record of records) {
    if (record.prevHash !== previous) {
      return { ok: false, checked, firstBreak: { seq: record.seq, id: record.id, kind: 'missing-or-reordered', expected: previous, actual: record.prevHash } };
    }
    const hash = chainHash(record.prevHash, record.event);
    if (hash !== record.hash) {
      return { ok: false, checked, firstBreak: { seq: record.seq, id: record.id, kind: 'altered', expected: hash, actual: record.hash } };
    }
    previous = record.hash;
    checked++;
  }
  return { ok: true, checked, head: previous };
}
