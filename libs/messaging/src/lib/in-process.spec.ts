import type { MessageHandler } from '@nestjs/microservices';
import { z } from 'zod';
import { InProcessBroker, InProcessBus } from './in-process';
import { currentContext, withContext } from './trace';

const Echo = z.object({ seen: z.unknown(), by: z.string(), traceId: z.string().optional() });

function handler(fn: (payload: unknown) => unknown, isEventHandler = false): MessageHandler {
  const h = (async (payload: unknown) => fn(payload)) as unknown as MessageHandler;
  h.isEventHandler = isEventHandler;
  return h;
}

describe('the in-process broker (the all-in-one transport)', () => {
  const broker = new InProcessBroker();
  const bus = new InProcessBus(broker);

  it('round-robins requests over the handlers of a subject, like a queue group', async () => {
    broker.register('rr', handler((p) => ({ ok: true, value: { seen: p, by: 'a' } })));
    broker.register('rr', handler((p) => ({ ok: true, value: { seen: p, by: 'b' } })));
    const by = [];
    for (let i = 0; i < 4; i++) by.push((await bus.request('rr', { i }, Echo, { timeoutMs: 1000 })).by);
    expect(by).toEqual(['a', 'b', 'a', 'b']);
  });

  it('passes JSON, not objects: a handler cannot change what the caller holds', async () => {
    const payload = { list: [1], when: new Date(0) };
    broker.register('json', handler((p) => {
      (p as { list: number[] }).list.push(2);
      return { ok: true, value: { seen: p, by: 'json' } };
    }));
    const reply = await bus.request('json', payload, Echo, { timeoutMs: 1000 });
    expect(payload.list).toEqual([1]);
    expect(reply.seen).toEqual({ list: [1, 2], when: '1970-01-01T00:00:00.000Z' });
  });

  it('answers SERVICE_UNAVAILABLE at once when nothing serves a subject, and TIMEOUT when a handler is too slow', async () => {
    await expect(bus.request('nobody', {}, Echo, { timeoutMs: 1000 })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    broker.register('slow', handler(() => new Promise(() => undefined)));
    await expect(bus.request('slow', {}, Echo, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'TIMEOUT' });
  });

  it('carries the trace into request handlers and event handlers, each in a span of its own', async () => {
    broker.register('traced', handler(() => ({ ok: true, value: { seen: currentContext()?.spanId, by: 't', traceId: currentContext()?.traceId } })));
    const events: { traceId?: string; spanId?: string }[] = [];
    broker.register('evt', handler(() => events.push({ traceId: currentContext()?.traceId, spanId: currentContext()?.spanId }), true));
    broker.register('evt', handler(() => events.push({ traceId: currentContext()?.traceId, spanId: currentContext()?.spanId }), true));
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await withContext(`00-${traceId}-00f067aa0ba902b7-01`, async () => {
      const caller = currentContext()?.spanId;
      const reply = await bus.request('traced', {}, Echo, { timeoutMs: 1000 });
      expect(reply.traceId).toBe(traceId);
      expect(reply.seen).not.toBe(caller);
      bus.emit('evt', { n: 1 });
      await new Promise((r) => setImmediate(r));
      expect(events).toHaveLength(2);
      expect(events.every((e) => e.traceId === traceId && e.spanId !== caller)).toBe(true);
    });
  });
});
