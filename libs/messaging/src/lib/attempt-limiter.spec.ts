import { AttemptLimiter, OVERFLOW_KEY, type AttemptLimits } from './attempt-limiter';

const alice = { user: 'alice@example.com', groups: ['engineering'], agent: 'claude-code', tokenId: 'tok_1' };
const bob = { user: 'bob@example.com', groups: [], tokenId: 'tok_2' };

function limiter(limits: Partial<AttemptLimits> = {}): AttemptLimiter {
  return new AttemptLimiter(() => ({ events: 3, windowMs: 1000, keys: 100, ...limits }));
}

/** Admits `n` attempts of one key at `now`; how many were to be recorded. */
function flood(l: AttemptLimiter, key: string, n: number, now: number, code = 'unknown-tool'): number {
  let recorded = 0;
  for (let i = 0; i < n; i++) if (l.admit(key, alice, code, now)) recorded += 1;
  return recorded;
}

describe('AttemptLimiter (fake clock)', () => {
  it('records the first attempts of a window and counts the rest, by code', () => {
    const l = limiter();
    expect(flood(l, 'token:tok_1', 3, 0)).toBe(3);
    expect(l.admit('token:tok_1', alice, 'unknown-tool', 10)).toBe(false);
    expect(l.admit('token:tok_1', alice, 'hidden-tool', 20)).toBe(false);
    expect(l.admit('token:tok_1', alice, 'hidden-tool', 999)).toBe(false);
    expect(l.drain(999)).toEqual([]);
    expect(l.drain(1000)).toEqual([
      { key: 'token:tok_1', actor: alice, start: 0, end: 1000, recorded: 3, suppressed: 3, byCode: { 'unknown-tool': 1, 'hidden-tool': 2 } },
    ]);
  });

  it('hands out each window once, and a new window records again', () => {
    const l = limiter();
    flood(l, 'token:tok_1', 5, 0);
    expect(l.drain(1500)).toHaveLength(1);
    expect(l.drain(1500)).toEqual([]);
    expect(flood(l, 'token:tok_1', 4, 1500)).toBe(3);
    expect(l.drain(2500)).toEqual([expect.objectContaining({ start: 1500, end: 2500, recorded: 3, suppressed: 1 })]);
  });

  it('keeps a window that ended before the next attempt of its key until it is drained', () => {
    const l = limiter();
    flood(l, 'token:tok_1', 4, 0);
    expect(flood(l, 'token:tok_1', 1, 5000)).toBe(1);
    expect(l.drain(5000)).toEqual([expect.objectContaining({ start: 0, suppressed: 1 })]);
    expect(l.drain(6000)).toEqual([]);
  });

  it('reports nothing for a window that stayed within the limit', () => {
    const l = limiter();
    flood(l, 'token:tok_1', 3, 0);
    expect(l.drain(10_000)).toEqual([]);
    expect(l.size).toBe(0);
  });

  it('limits each key on its own', () => {
    const l = limiter();
    expect(flood(l, 'token:tok_1', 10, 0)).toBe(3);
    expect(l.admit('token:tok_2', bob, 'no-rule', 0)).toBe(true);
    expect(l.drain(1000).map((w) => [w.key, w.suppressed])).toEqual([['token:tok_1', 7]]);
  });

  it('counts refusals that are never recorded without using the record budget', () => {
    const l = limiter();
    l.count('source:10.0.0.1', { user: 'anonymous', groups: [], ip: '10.0.0.1' }, 'auth-rate-limited', 0);
    expect(l.admit('source:10.0.0.1', { user: 'anonymous', groups: [] }, 'unauthenticated', 1)).toBe(true);
    expect(l.drain(0, true)).toEqual([expect.objectContaining({ key: 'source:10.0.0.1', recorded: 1, suppressed: 1, byCode: { 'auth-rate-limited': 1 } })]);
  });

  it('bounds its memory: past `keys` keys, new ones share the overflow key', () => {
    const l = limiter({ keys: 10, events: 1 });
    let recorded = 0;
    for (let i = 0; i < 10_000; i++) if (l.admit(`source:10.0.${i >> 8}.${i & 255}`, { user: 'anonymous', groups: [] }, 'unauthenticated', 0)) recorded += 1;
    expect(l.size).toBe(11);
    expect(recorded).toBe(11);
    const windows = l.drain(1000);
    expect(windows).toEqual([expect.objectContaining({ key: OVERFLOW_KEY, actor: { user: '*', groups: [] }, recorded: 1, suppressed: 10_000 - 11 })]);
  });

  it('frees keys whose windows ended before sending a new key to the overflow', () => {
    const l = limiter({ keys: 2 });
    l.admit('a', alice, 'x', 0);
    l.admit('b', alice, 'x', 0);
    expect(l.admit('c', alice, 'x', 2000)).toBe(true);
    expect(l.drain(2000, true).map((w) => w.key)).toEqual([]);
    expect(l.size).toBe(0);
  });

  it('drains every open window that counted when asked for all (shutdown)', () => {
    const l = limiter();
    flood(l, 'token:tok_1', 4, 0);
    expect(l.drain(10, true)).toEqual([expect.objectContaining({ key: 'token:tok_1', suppressed: 1, end: 1000 })]);
  });

  it('follows a changed limit at once', () => {
    let events = 1;
    const l = new AttemptLimiter(() => ({ events, windowMs: 1000, keys: 10 }));
    expect(flood(l, 'k', 3, 0)).toBe(1);
    events = 2;
    expect(flood(l, 'k', 1, 10)).toBe(1);
  });
});
