import { EARLY_CANCEL_MEMORY_MS, InFlightCalls, callerDigest } from './in-flight-calls';

describe('the calls a gateway replica serves, as cancellations find them', () => {
  const alice = callerDigest('rg_alice');
  const mallory = callerDigest('rg_mallory');

  it('cancels the caller\'s own call by its request id, and nobody else\'s', () => {
    const calls = new InFlightCalls();
    const call = new AbortController();
    calls.register({ caller: alice, requestId: 7 }, call);
    expect(calls.cancel({ caller: mallory, requestId: 7 })).toBe('unknown');
    expect(calls.cancel({ caller: alice, requestId: '7' })).toBe('unknown');
    expect(calls.cancel({ caller: alice, session: 's1', requestId: 7 })).toBe('unknown');
    expect(call.signal.aborted).toBe(false);
    expect(calls.cancel({ caller: alice, requestId: 7 })).toBe('cancelled');
    expect(call.signal.aborted).toBe(true);
  });

  it('tells two clients of one token apart by their session ids, and stops neither when it cannot', () => {
    const calls = new InFlightCalls();
    const [first, second] = [new AbortController(), new AbortController()];
    calls.register({ caller: alice, session: 's1', requestId: 2 }, first);
    calls.register({ caller: alice, session: 's2', requestId: 2 }, second);
    expect(calls.cancel({ caller: alice, session: 's2', requestId: 2 })).toBe('cancelled');
    expect([first.signal.aborted, second.signal.aborted]).toEqual([false, true]);
    const [third, fourth] = [new AbortController(), new AbortController()];
    calls.register({ caller: alice, requestId: 3 }, third);
    calls.register({ caller: alice, requestId: 3 }, fourth);
    expect(calls.cancel({ caller: alice, requestId: 3 })).toBe('ambiguous');
    expect([third.signal.aborted, fourth.signal.aborted]).toEqual([false, false]);
  });

  it('forgets a call once it is done', () => {
    const calls = new InFlightCalls();
    const call = new AbortController();
    const done = calls.register({ caller: alice, requestId: 1 }, call);
    done();
    expect(calls.size).toBe(0);
    expect(calls.cancel({ caller: alice, requestId: 1 })).toBe('unknown');
    expect(call.signal.aborted).toBe(false);
  });

  it('applies a cancellation that came first to the call of that session, while it is recent', () => {
    let now = 1_000_000;
    const calls = new InFlightCalls(() => now);
    expect(calls.cancel({ caller: alice, session: 's1', requestId: 9 })).toBe('unknown');
    const early = new AbortController();
    calls.register({ caller: alice, session: 's1', requestId: 9 }, early);
    expect(early.signal.aborted).toBe(true);
    // Once used, and once stale, it stops nothing more.
    const again = new AbortController();
    calls.register({ caller: alice, session: 's1', requestId: 9 }, again);
    expect(again.signal.aborted).toBe(false);
    calls.cancel({ caller: alice, session: 's1', requestId: 10 });
    now += EARLY_CANCEL_MEMORY_MS + 1;
    const late = new AbortController();
    calls.register({ caller: alice, session: 's1', requestId: 10 }, late);
    expect(late.signal.aborted).toBe(false);
  });

  it('keeps no early cancellation without a session id: another client of the token may use that id next', () => {
    const calls = new InFlightCalls();
    calls.cancel({ caller: alice, requestId: 4 });
    const call = new AbortController();
    calls.register({ caller: alice, requestId: 4 }, call);
    expect(call.signal.aborted).toBe(false);
  });
});
