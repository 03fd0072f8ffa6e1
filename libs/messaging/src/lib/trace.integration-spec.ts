import { randomUUID } from 'node:crypto';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import { headers, type NatsConnection } from 'nats';
import { z } from 'zod';
import { answer } from './answer';
import { NatsBus, decodeJson, encodeJson, scopedSubject, subjectPrefix, type Bus } from './bus';
import { connectNats } from './nats';
import { NatsRpcServer } from './rpc-server';
import { currentContext, outgoingTraceparent, withContext } from './trace';

/**
 * W3C trace context over real NATS: the bus puts `traceparent` on every request and event
 * it sends, the rpc-server continues it in the handler, and a handler's own requests carry
 * it one hop further — so the logs of every service a call crossed share one trace id.
 */
const Span = z.object({ traceId: z.string(), spanId: z.string(), parentSpanId: z.string().optional(), traceFlags: z.string() });
type Span = z.infer<typeof Span>;
const Relayed = z.object({ self: Span, next: Span });

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const opts = { timeoutMs: 2000 };
let bus: Bus;
const events = new Map<string, (span: Span) => void>();

function span(): Span {
  const context = currentContext();
  if (!context) throw new Error('the handler ran outside a call context');
  return Span.parse(context);
}

@Controller()
class TraceController {
  @MessagePattern('trace.hop.v1')
  hop() {
    return answer(() => span());
  }

  @MessagePattern('trace.relay.v1')
  relay() {
    return answer(async () => ({ self: span(), next: await bus.request('trace.hop.v1', {}, Span, opts) }));
  }

  @EventPattern('trace.happened.v1')
  happened(payload: { id: string }) {
    events.get(payload.id)?.(span());
  }
}

@Module({ controllers: [TraceController] })
class TraceModule {}

/** The span the event handler saw, once it ran. */
function eventSeen(id: string): Promise<Span> {
  return new Promise((resolve) => events.set(id, resolve));
}

describe('trace context across NATS', () => {
  const connections: NatsConnection[] = [];
  let app: INestMicroservice;

  beforeAll(async () => {
    const connection = async () => {
      const nc = await connectNats({ name: 'trace-test' });
      connections.push(nc);
      return nc;
    };
    bus = new NatsBus(await connection());
    app = await NestFactory.createMicroservice(TraceModule, { strategy: new NatsRpcServer({ queue: 'trace', connection }), logger: false });
    await app.listen();
  });

  afterAll(async () => {
    await app.close();
    await Promise.all(connections.map((nc) => nc.close()));
  });

  it('continues the caller\'s trace in the handler, as a child of the caller\'s span, with its flags', async () => {
    for (const flags of ['01', '00']) {
      const { caller, handler } = await withContext(`00-${TRACE}-00f067aa0ba902b7-${flags}`, async () => ({
        caller: span(),
        handler: await bus.request('trace.hop.v1', {}, Span, opts),
      }));
      expect(handler).toMatchObject({ traceId: TRACE, parentSpanId: caller.spanId, traceFlags: flags });
      expect(handler.spanId).not.toBe(caller.spanId);
    }
  });

  it('carries the trace on from a handler\'s own requests, hop after hop', async () => {
    const { caller, relayed } = await withContext(undefined, async () => ({
      caller: span(),
      relayed: await bus.request('trace.relay.v1', {}, Relayed, opts),
    }));
    expect(relayed.self).toMatchObject({ traceId: caller.traceId, parentSpanId: caller.spanId });
    expect(relayed.next).toMatchObject({ traceId: caller.traceId, parentSpanId: relayed.self.spanId });
  });

  it('carries the trace on events, which every subscriber sees', async () => {
    const id = randomUUID();
    const seen = eventSeen(id);
    const caller = withContext(undefined, () => {
      bus.emit('trace.happened.v1', { id });
      return span();
    });
    expect(await seen).toMatchObject({ traceId: caller.traceId, parentSpanId: caller.spanId });
  });

  it('starts a new trace per message when the sender has none', async () => {
    expect(outgoingTraceparent()).toBeUndefined();
    const [a, b] = await Promise.all([bus.request('trace.hop.v1', {}, Span, opts), bus.request('trace.hop.v1', {}, Span, opts)]);
    expect(a?.parentSpanId).toBeUndefined();
    expect(a?.traceId).not.toBe(b?.traceId);
  });

  it('answers a message whose traceparent is malformed, in a new trace', async () => {
    const nc = connections[0] as NatsConnection;
    const malformed = headers();
    malformed.set('traceparent', `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`);
    const reply = await nc.request(scopedSubject('trace.hop.v1', subjectPrefix()), encodeJson({}), { timeout: 2000, headers: malformed });
    const { value } = z.object({ ok: z.literal(true), value: Span }).parse(decodeJson(reply.data));
    expect(value.traceId).not.toBe(TRACE);
    expect(value.parentSpanId).toBeUndefined();
  });
});
