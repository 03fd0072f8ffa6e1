import { GENESIS_HASH, canonicalJson, chainHash, verifyChain, type ChainedRecord } from './chain';

function chain(events: unknown[]): ChainedRecord[] {
  let prev = GENESIS_HASH;
  return events.map((event, i) => {
    const hash = chainHash(prev, event);
    const record = { seq: i + 1, id: `e${i + 1}`, event, prevHash: prev, hash };
    prev = hash;
    return record;
  });
}

/** The first definition of canonical JSON, kept as the oracle: stored chains were hashed with it. */
function referenceCanonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : referenceCanonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${referenceCanonicalJson(v)}`).join(',')}}`;
}

/** Deterministic pseudo-random values of every JSON shape, plus what JSON cannot say. */
function generate(seed: number, depth = 0): unknown {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  const keys = ['a', 'B', 'é', 'z', '10', '2', 'ä', '😀', 'a\u0000b', '"q"', '', 'Z'];
  const pick = next();
  if (depth > 3 || pick < 0.35) {
    const leaves = [null, true, false, 0, -1.5, 1e21, Number.NaN, Number.POSITIVE_INFINITY, undefined, 'text', 'ünï\ncode\u2028', '"\\'];
    return leaves[Math.floor(next() * leaves.length)];
  }
  if (pick < 0.6) return Array.from({ length: Math.floor(next() * 4) }, (_, i) => generate(seed * 31 + i, depth + 1));
  const object: Record<string, unknown> = {};
  for (let i = 0; i < Math.floor(next() * 6); i++) object[keys[Math.floor(next() * keys.length)] as string] = generate(seed * 17 + i, depth + 1);
  return object;
}

describe('audit chain', () => {
  it('canonicalizes exactly as the first definition did, so stored chains keep verifying', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const value = generate(seed);
      expect(canonicalJson(value)).toBe(referenceCanonicalJson(value));
    }
  });

  const records = chain([{ type: 'a', n: 1 }, { type: 'b', nested: { z: 1, a: [1, 'x'] } }, { type: 'c' }, { type: 'd' }]);

  it('is canonical: key order and whitespace do not matter', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'é' } })).toBe('{"a":{"c":"é","d":[1,{"x":1,"y":2}]},"b":1}');
    expect(chainHash(GENESIS_HASH, { a: 1, b: 2 })).toBe(chainHash(GENESIS_HASH, { b: 2, a: 1 }));
  });

  it('verifies an intact chain', () => {
    expect(verifyChain(records)).toEqual({ ok: true, checked: 4, head: records[3]?.hash });
  });

  it('names an altered record', () => {
    const altered = records.map((r) => (r.seq === 2 ? { ...r, event: { type: 'b', nested: { z: 2, a: [1, 'x'] } } } : r));
    expect(verifyChain(altered)).toMatchObject({ ok: false, checked: 1, firstBreak: { seq: 2, id: 'e2', kind: 'altered' } });
  });

  it('names the record after a deleted one', () => {
    expect(verifyChain(records.filter((r) => r.seq !== 2))).toMatchObject({ ok: false, firstBreak: { seq: 3, kind: 'missing-or-reordered' } });
  });

  it('names a reordered record', () => {
    const [a, b, c, d] = records as [ChainedRecord, ChainedRecord, ChainedRecord, ChainedRecord];
    expect(verifyChain([a, c, b, d])).toMatchObject({ ok: false, firstBreak: { seq: 3, kind: 'missing-or-reordered' } });
  });
});
