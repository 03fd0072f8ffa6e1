import { Pause } from './pause';

describe('Pause', () => {
  afterEach(() => jest.useRealTimers());

  it('ends a sleep on wake and clears its timer; a wake without a sleep does nothing', async () => {
    jest.useFakeTimers();
    const pause = new Pause();
    pause.wake();
    const sleeping = pause.sleep(60_000);
    expect(jest.getTimerCount()).toBe(1);
    pause.wake();
    await expect(sleeping).resolves.toBeUndefined();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('ends by itself when nobody wakes it', async () => {
    jest.useFakeTimers();
    const sleeping = new Pause().sleep(1000);
    jest.advanceTimersByTime(1000);
    await expect(sleeping).resolves.toBeUndefined();
  });
});
