import { randomUUID } from 'node:crypto';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { EventPattern, MessagePattern, type CustomTransportStrategy } from '@nestjs/microservices';
import { NestFactory } from '@nestjs/core';
import { RungateError } from '@rungate/contracts';
import type { NatsConnection } from 'nats';
import { z } from 'zod';
import { answer, parsePayload } from './answer';
import { NatsBus, scopedSubject, subjectPrefix, type Bus } from './bus';
import { InProcessBroker, InProcessBus, InProcessRpcServer } from './in-process';
import { connectNats } from './nats';
import { currentContext, withContext } from './trace';
import { NatsRpcServer } from './rpc-server';

const Echo = z.object({ text: z.string() });
const EchoReply = z.object({ text: z.string(), by: z.string() });
const seen: { replica: string; text: string }[] = [];
const events: string[] = [];

function echoController(replica: string) {
  @Controller()
  class EchoController {
    @MessagePattern('test.echo.v1')
    echo(payload: unknown) {
      return answer(() => {
        const { text } = parsePayload(Echo, payload);
        seen.push({ replica, text });
        if (text === 'forbidden') throw new RungateError('FORBIDDEN', 'no rule allows that');
        if (text === 'crash') throw new Error('database password is hunter2');
        return { text, by: replica };
      });
    }

    @MessagePattern('test.big.v1')
    big() {
      return answer(() => ({ text: 'x'.repeat(2 * 1024 * 1024), by: replica }));
    }

    @MessagePattern('test.slow.v1')
    async slow(payload: { ms: number }) {
      await new Promise((resolve) => setTimeout(resolve, payload.ms));
      return answer(() => ({ text: 'done', by: replica }));
    }

    @MessagePattern('test.trace.v1')
    trace() {
      return answer(() => ({ traceId: currentContext()?.traceId ?? 'none' }));
    }

    @EventPattern('test.happened.v1')
    happened(payload: { what: string }) {
      events.push(`${replica}:${payload.what}`);
    }
  }
  @Module({ controllers: [EchoController] })
  class EchoModule {}
  return EchoModule;
}

interface Harness {
  bus: Bus;
  /** A responder that takes requests and then says nothing, like a replica that died mid-run. */
  hang?(subject: string): Promise<void>;
  replica(name: string): Promise<INestMicroservice>;
  close(): Promise<void>;
}

const transports: [string, () => Promise<Harness>][] = [
  [
    'NATS',
    async () => {
      const connections: NatsConnection[] = [];
      const connection = async () => {
        const nc = await connectNats({ name: 'transport-test' });
        connections.push(nc);
        return nc;
      };
      return {
        bus: new NatsBus(await connection()),
        replica: (name) => start(name, new NatsRpcServer({ queue: 'echo', connection })),
        hang: async (subject) => {
          const nc = await connection();
          nc.subscribe(scopedSubject(subject, subjectPrefix()), { callback: () => undefined });
          await nc.flush();
        },
        close: async () => {
          await Promise.all(connections.map((nc) => nc.close()));
        },
      };
    },
  ],
  [
    'in-process',
    async () => {
      const broker = new InProcessBroker();
      return { bus: new InProcessBus(broker), replica: (name) => start(name, new InProcessRpcServer(broker)), close: async () => undefined };
    },
  ],
];

async function start(name: string, strategy: CustomTransportStrategy): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice(echoController(name), { strategy, logger: false });
  await app.listen();
  return app;
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return error instanceof RungateError ? error.code : 'UNTYPED';
  }
  return undefined;
}

describe.each(transports)('the %s transport', (name, make) => {
  let harness: Harness;
  const apps: INestMicroservice[] = [];
  const opts = { timeoutMs: 2000 };

  beforeAll(async () => {
    harness = await make();
    apps.push(await harness.replica('a'), await harness.replica('b'));
  });

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await harness.close();
  });

  it('answers a request with a validated value', async () => {
    await expect(harness.bus.request('test.echo.v1', { text: 'hi' }, EchoReply, opts)).resolves.toMatchObject({ text: 'hi' });
  });

  it('gives each request to exactly one replica of the queue group', async () => {
    const texts: string[] = Array.from({ length: 20 }, () => randomUUID());
    await Promise.all(texts.map((text) => harness.bus.request('test.echo.v1', { text }, EchoReply, opts)));
    const handled = seen.filter((s) => texts.includes(s.text));
    expect(handled).toHaveLength(20);
    expect(new Set(handled.map((s) => s.text)).size).toBe(20);
  });

  it('carries typed errors, and hides unexpected ones', async () => {
    expect(await codeOf(harness.bus.request('test.echo.v1', { text: 'forbidden' }, EchoReply, opts))).toBe('FORBIDDEN');
    let message = '';
    try {
      await harness.bus.request('test.echo.v1', { text: 'crash' }, EchoReply, opts);
    } catch (error) {
      message = (error as Error).message;
      expect((error as RungateError).code).toBe('INTERNAL');
    }
    expect(message).not.toContain('hunter2');
  });

  it('refuses a malformed payload without reaching the logic', async () => {
    expect(await codeOf(harness.bus.request('test.echo.v1', { text: 42 }, EchoReply, opts))).toBe('BAD_REQUEST');
  });

  it('answers a reply too large for one message with an error instead of silence', async () => {
    const reply = harness.bus.request('test.big.v1', {}, EchoReply, { timeoutMs: 5000 });
    if (name === 'NATS') {
      await expect(reply).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/exceeds the NATS max_payload/) });
    } else {
      // In one process nothing limits a reply's size.
      await expect(reply).resolves.toMatchObject({ by: expect.stringMatching(/^[ab]$/) });
    }
  });

  it('says at once when nobody serves a subject', async () => {
    const started = Date.now();
    expect(await codeOf(harness.bus.request('test.nobody.v1', {}, EchoReply, { timeoutMs: 5000 }))).toBe('SERVICE_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('keeps a request that outlasts the silence limit alive with heartbeats', async () => {
    // Silent for 4 × 100 ms would fail it; the responder reports while it works for 900 ms.
    await expect(harness.bus.request('test.slow.v1', { ms: 900 }, EchoReply, { timeoutMs: 5000, heartbeatMs: 100 })).resolves.toMatchObject({ text: 'done' });
  });

  it('fails a request whose responder stops reporting, without waiting out its timeout', async () => {
    if (!harness.hang) return; // in one process a responder cannot die apart from its caller
    await harness.hang('test.hung.v1');
    const started = Date.now();
    const request = harness.bus.request('test.hung.v1', {}, EchoReply, { timeoutMs: 30_000, heartbeatMs: 100 });
    await expect(request).rejects.toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('stopped reporting'), details: { transport: true } });
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await codeOf(harness.bus.request('test.nobody.v1', {}, EchoReply, { timeoutMs: 5000, heartbeatMs: 100 }))).toBe('SERVICE_UNAVAILABLE');
  });

  it('carries the caller\'s trace context to the handler', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const reply = await withContext(traceparent, () =>
      harness.bus.request('test.trace.v1', {}, z.object({ traceId: z.string() }), opts),
    );
    expect(reply.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('fans events out to every replica', async () => {
    const what = randomUUID();
    harness.bus.emit('test.happened.v1', { what });
    const deadline = Date.now() + 2000;
    while (events.filter((e) => e.endsWith(what)).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(events.filter((e) => e.endsWith(what)).sort()).toEqual([`a:${what}`, `b:${what}`]);
  });
});

describe('NatsBus when its connection closes', () => {
  it('fails a request waiting for its answer at once, as a transport error', async () => {
    const prefix = `test.closing.${randomUUID()}`;
    const responder = await connectNats({ name: 'closing-responder' });
    const requester = await connectNats({ name: 'closing-requester' });
    try {
      // Takes the request and never answers.
      responder.subscribe(scopedSubject('test.silent.v1', prefix), { callback: () => undefined });
      await responder.flush();
      const bus = new NatsBus(requester, prefix);
      const request = bus.request('test.silent.v1', {}, EchoReply, { timeoutMs: 600_000 });
      await requester.flush();
      await requester.close();
      await expect(request).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', details: { transport: true } });
    } finally {
      await responder.close();
    }
  });
});
