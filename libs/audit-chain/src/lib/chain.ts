import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

/** Canonical JSON: object keys sorted, no whitespace; the same event always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** hash = sha256(prevHash ‖ canonical(event)) */
export function chainHash(prevHash: string, event: unknown): string {
  return createHash('sha256').update(prevHash).update(canonicalJson(event)).digest('hex');
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
