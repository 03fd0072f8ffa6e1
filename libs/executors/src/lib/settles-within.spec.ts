import { settlesWithin } from './settles-within';

describe('settlesWithin', () => {
  it('is true for work that settles in time, resolved or rejected', async () => {
    await expect(settlesWithin(Promise.resolve('done'), 1000)).resolves.toBe(true);
    await expect(settlesWithin(Promise.reject(new Error('failed')), 1000)).resolves.toBe(true);
  });

  it('is false once the time is up, for work that never settles', async () => {
    await expect(settlesWithin(new Promise(() => undefined), 10)).resolves.toBe(false);
  });
});
