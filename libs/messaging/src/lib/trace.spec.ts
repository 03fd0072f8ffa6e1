import { currentContext, newSpanId, outgoingTraceparent, parseTraceparent, setRunId, withContext } from './trace';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const HEADER = `00-${TRACE}-${PARENT}-01`;

describe('parseTraceparent', () => {
  it('reads a W3C version 00 header', () => {
    expect(parseTraceparent(HEADER)).toEqual({ traceId: TRACE, parentSpanId: PARENT, traceFlags: '01' });
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-00`)?.traceFlags).toBe('00');
  });

  it('reads the known fields of a later version and ignores what it appends', () => {
    expect(parseTraceparent(`01-${TRACE}-${PARENT}-01-what-comes-next`)).toEqual({ traceId: TRACE, parentSpanId: PARENT, traceFlags: '01' });
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['garbage', 'not a traceparent'],
    ['upper-case hex', HEADER.toUpperCase()],
    ['a short trace id', `00-${TRACE.slice(1)}-${PARENT}-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['the forbidden version ff', `ff-${TRACE}-${PARENT}-01`],
    ['version 00 with extra fields', `${HEADER}-extra`],
  ])('refuses %s', (_what, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });
});

describe('withContext', () => {
  it('continues the caller\'s trace as a new span whose parent is the caller\'s span', () => {
    withContext(HEADER, () => {
      const context = currentContext();
      expect(context).toMatchObject({ traceId: TRACE, parentSpanId: PARENT, traceFlags: '01' });
      expect(context?.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(context?.spanId).not.toBe(PARENT);
      expect(outgoingTraceparent()).toBe(`00-${TRACE}-${context?.spanId}-01`);
    });
  });

  it('passes an unsampled caller\'s flags on unchanged', () => {
    withContext(`00-${TRACE}-${PARENT}-00`, () => {
      expect(outgoingTraceparent()).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
    });
  });

  it('starts a new sampled trace without a valid header', () => {
    const seen = ['', 'garbage', undefined].map((header) =>
      withContext(header, () => {
        expect(currentContext()?.parentSpanId).toBeUndefined();
        return outgoingTraceparent();
      }),
    );
    for (const header of seen) expect(header).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(new Set(seen.map((h) => h?.split('-')[1])).size).toBe(3);
  });

  it('gives every span and trace ids of their own, also across the id pool\'s refills', () => {
    // 1,000 traces draw 24 bytes each: several 4 KiB refills of the pool.
    const headers = Array.from({ length: 1000 }, () => withContext(undefined, () => outgoingTraceparent() as string));
    for (const header of headers) expect(header).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(new Set(headers.map((h) => h.split('-')[1])).size).toBe(1000);
    expect(new Set(headers.map((h) => h.split('-')[2])).size).toBe(1000);
    expect(new Set(Array.from({ length: 1000 }, newSpanId)).size).toBe(1000);
  });

  it('has no context, and nothing to send, outside a call', () => {
    expect(currentContext()).toBeUndefined();
    expect(outgoingTraceparent()).toBeUndefined();
    setRunId('run-nowhere');
    expect(currentContext()).toBeUndefined();
  });
});

describe('setRunId', () => {
  it('names the run for everything later in the call, across awaits and timers', async () => {
    const seen = await withContext(HEADER, async () => {
      const before = currentContext()?.runId;
      setRunId('run-1');
      await Promise.resolve();
      const afterAwait = currentContext()?.runId;
      const inTimer = await new Promise<string | undefined>((resolve) => setTimeout(() => resolve(currentContext()?.runId), 0));
      return { before, afterAwait, inTimer };
    });
    expect(seen).toEqual({ before: undefined, afterAwait: 'run-1', inTimer: 'run-1' });
  });

  it('keeps concurrent calls apart, and a downstream hop does not rename its caller\'s run', async () => {
    const call = (runId: string, delayMs: number) =>
      withContext(undefined, async () => {
        setRunId(runId);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        const downstream = await withContext(outgoingTraceparent(), async () => {
          setRunId(`${runId}-downstream`);
          return currentContext()?.runId;
        });
        return { own: currentContext()?.runId, downstream };
      });
    const [a, b] = await Promise.all([call('run-a', 5), call('run-b', 0)]);
    expect(a).toEqual({ own: 'run-a', downstream: 'run-a-downstream' });
    expect(b).toEqual({ own: 'run-b', downstream: 'run-b-downstream' });
  });
});
