import { eventually } from './eventually';

describe('eventually', () => {
  it('resolves with what the check returned once it stops throwing', async () => {
    let calls = 0;
    const value = await eventually(() => {
      calls++;
      if (calls < 3) throw new Error(`not yet (${calls})`);
      return 'ready';
    }, 5_000, 1);
    expect(value).toBe('ready');
    expect(calls).toBe(3);
  });

  it('fails with the last error the check threw when it never passes', async () => {
    let calls = 0;
    const failure = await eventually(async () => {
      calls++;
      throw new Error(`still failing (${calls})`);
    }, 20, 1).catch((error: unknown) => error);
    expect(calls).toBeGreaterThan(1);
    expect(failure).toEqual(new Error(`still failing (${calls})`));
  });

  it('runs the check at least once, even with no time to wait', async () => {
    await expect(eventually(() => 42, 0)).resolves.toBe(42);
  });
});
