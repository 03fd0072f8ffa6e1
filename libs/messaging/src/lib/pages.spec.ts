import { decodeCursor, encodeCursor, endWithin } from './pages';

describe('pages', () => {
  it('takes items while their JSON fits the budget', () => {
    const items = ['aaaa', 'bbbb', 'cccc'];
    // Each item is 6 bytes of JSON plus a separator.
    expect(endWithin(items, 0, 14)).toEqual({ end: 2, left: 0 });
    expect(endWithin(items, 2, 100).end).toBe(3);
    expect(endWithin(items, 3, 100).end).toBe(3);
  });

  it('takes one oversized item only when asked to, so paging always moves on', () => {
    expect(endWithin(['x'.repeat(50)], 0, 10).end).toBe(1);
    expect(endWithin(['x'.repeat(50)], 0, 10, false).end).toBe(0);
  });

  it('round-trips cursors and refuses made-up ones', () => {
    expect(decodeCursor(encodeCursor(1234))).toBe(1234);
    expect(decodeCursor(undefined)).toBe(0);
    for (const bad of ['nope', encodeCursor(-1), Buffer.from('{"o":"1"}').toString('base64url'), Buffer.from('[]').toString('base64url')]) {
      expect(() => decodeCursor(bad)).toThrow(/invalid cursor/);
    }
  });
});
