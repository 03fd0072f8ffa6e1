import { AuthFailures } from './auth-failures';

const limit = { failures: 3, windowMs: 60_000 };

describe('AuthFailures (fake clock)', () => {
  it('refuses a source once it failed the limit, until its window ends', () => {
    const f = new AuthFailures(() => limit);
    for (let i = 0; i < 3; i++) {
      expect(f.refusal('10.0.0.1', 'guess', 1000 + i)).toBeUndefined();
      f.failed('10.0.0.1', 1000 + i);
    }
    expect(f.refusal('10.0.0.1', 'guess', 2000)).toBe(59_000);
    expect(f.refusal('10.0.0.1', undefined, 60_999)).toBe(1);
    expect(f.refusal('10.0.0.1', 'guess', 61_000)).toBeUndefined();
  });

  it('keeps each source apart', () => {
    const f = new AuthFailures(() => limit);
    for (let i = 0; i < 3; i++) f.failed('10.0.0.1', 0);
    expect(f.refusal('10.0.0.2', 'guess', 0)).toBeUndefined();
  });

  it('lets a token that already worked from the source through a block; a new one is refused', () => {
    const f = new AuthFailures(() => limit);
    f.succeeded('10.0.0.1', 'alice', 0);
    for (let i = 0; i < 10; i++) f.failed('10.0.0.1', 1);
    expect(f.refusal('10.0.0.1', 'alice', 2)).toBeUndefined();
    expect(f.refusal('10.0.0.1', 'bob', 2)).toBe(59_999);
    // Known from another source only: refused here.
    f.succeeded('10.0.0.2', 'carol', 2);
    expect(f.refusal('10.0.0.1', 'carol', 3)).toBeDefined();
  });

  it('never counts successes', () => {
    const f = new AuthFailures(() => limit);
    for (let i = 0; i < 100; i++) f.succeeded('10.0.0.1', `t${i % 3}`, i);
    expect(f.refusal('10.0.0.1', 'new', 100)).toBeUndefined();
  });

  it('bounds its memory: the oldest sources give way', () => {
    const f = new AuthFailures(() => ({ failures: 1, windowMs: 60_000 }));
    f.failed('first', 0);
    for (let i = 0; i < 10_000; i++) f.failed(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 0);
    expect(f.refusal('first', 'x', 1)).toBeUndefined();
    expect(f.refusal('10.0.39.15', 'x', 1)).toBeDefined();
  });
});
