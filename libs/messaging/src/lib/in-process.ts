import { CustomTransportStrategy, Server, type MessageHandler } from '@nestjs/microservices';
import type { z } from 'zod';
import { noResponders, transportError, unwrapReply, type Bus, type RequestOptions } from './bus';
import { invokeHandler } from './dispatch';
import { outgoingTraceparent, withContext } from './trace';

interface Route {
  queue: MessageHandler[];
  next: number;
  events: MessageHandler[];
}

/** JSON on the way in and out, exactly as on the wire: no shared objects between services. */
function roundTrip(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/**
 * The all-in-one mode's bus: every service in one process, the same subjects, handlers and
 * JSON payloads as over NATS, without a broker. Requests round-robin over the handlers of a
 * subject (a queue group); events reach every handler.
 */
export class InProcessBroker {
  private readonly routes = new Map<string, Route>();

  private route(subject: string): Route {
    let route = this.routes.get(subject);
    if (!route) {
      route = { queue: [], next: 0, events: [] };
      this.routes.set(subject, route);
    }
    return route;
  }

  register(subject: string, handler: MessageHandler): () => void {
    const route = this.route(subject);
    const list = handler.isEventHandler ? route.events : route.queue;
    list.push(handler);
    return () => list.splice(list.indexOf(handler), 1);
  }

  async request(subject: string, payload: unknown, timeoutMs: number): Promise<unknown> {
    const route = this.routes.get(subject);
    if (!route || route.queue.length === 0) {
      throw noResponders(subject);
    }
    const handler = route.queue[route.next++ % route.queue.length] as MessageHandler;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(transportError('TIMEOUT', `no answer on ${subject} within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const traceparent = outgoingTraceparent();
      const reply = withContext(traceparent, () => invokeHandler(subject, handler, roundTrip(payload), { subject }));
      return roundTrip(await Promise.race([reply, timeout]));
    } finally {
      clearTimeout(timer);
    }
  }

  publish(subject: string, payload: unknown): void {
    // Each handler runs in a span of its own in the publisher's trace, as over NATS headers.
    const traceparent = outgoingTraceparent();
    for (const handler of this.routes.get(subject)?.events ?? []) {
      void withContext(traceparent, () => invokeHandler(subject, handler, roundTrip(payload), { subject }));
    }
  }
}

export class InProcessBus implements Bus {
  constructor(private readonly broker: InProcessBroker) {}

  async request<S extends z.ZodTypeAny>(subject: string, payload: unknown, schema: S, options: RequestOptions): Promise<z.infer<S>> {
    return unwrapReply(subject, await this.broker.request(subject, payload, options.timeoutMs), schema);
  }

  emit(subject: string, payload: unknown): void {
    this.broker.publish(subject, payload);
  }
}

/** The twin of NatsRpcServer: registers a Nest app's handlers on the in-process broker. */
export class InProcessRpcServer extends Server implements CustomTransportStrategy {
  private unregister: (() => void)[] = [];

  constructor(private readonly broker: InProcessBroker) {
    super();
  }

  listen(callback: () => void): void {
    for (const [subject, handler] of this.messageHandlers) this.unregister.push(this.broker.register(subject, handler));
    callback();
  }

  close(): void {
    for (const undo of this.unregister) undo();
    this.unregister = [];
  }

  on(): void {
    // Nothing to watch: there is no connection.
  }

  unwrap<T>(): T {
    return this.broker as T;
  }
}
