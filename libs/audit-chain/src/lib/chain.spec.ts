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

describe('audit chain', () => {
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
