import { retryDelay } from './backoff';

describe('retry backoff', () => {
  const policy = { initialDelay: 1000, maxDelay: 60_000 };

  it('doubles per failure up to the cap', () => {
    const top = (n: number) => retryDelay(n, policy, () => 0.999999);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(top)).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
    expect(top(10_000)).toBe(60_000);
  });

  it('jitters between half and all of the step', () => {
    expect(retryDelay(3, policy, () => 0)).toBe(2000);
    expect(retryDelay(3, policy, () => 0.5)).toBe(3000);
    for (let i = 0; i < 200; i++) {
      const delay = retryDelay(4, policy);
      expect(delay).toBeGreaterThanOrEqual(4000);
      expect(delay).toBeLessThanOrEqual(8000);
    }
  });
});
