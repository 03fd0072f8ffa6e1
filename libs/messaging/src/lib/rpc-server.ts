import { CustomTransportStrategy, Server, type MessageHandler } from '@nestjs/microservices';
import { RungateError, type Reply, InternalError } from '@rungate/contracts';
import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from 'nats';
import { HEARTBEAT_HEADER, MIN_HEARTBEAT_MS, WORKING_HEADER, decodeJson, encodeJson, scopedSubject, subjectPrefix } from './bus';
import { invokeHandler } from './dispatch';
import { withContext } from './trace';

export interface RpcServerOptions {
  /** The queue group replicas share, e.g. `executors.postgres`; events ignore it (fan-out). */
  queue: string;
  connection: () => Promise<NatsConnection>;
  /** Subject namespace; defaults to RUNGATE_SUBJECT_PREFIX (see subjectPrefix). */
  prefix?: string;
}

/**
 * A NestJS transport strategy over NATS with plain JSON on the wire. Handlers declared with
 * `@MessagePattern(subject)` answer in a queue group; `@EventPattern(subject)` handlers see
 * every event. A handler that throws answers with a typed error instead of a stack trace.
 */
export class NatsRpcServer extends Server implements CustomTransportStrategy {
  private subscriptions: Subscription[] = [];
  private nc?: NatsConnection;

  constructor(private readonly options: RpcServerOptions) {
    super();
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      this.nc = await this.options.connection();
      const prefix = this.options.prefix ?? subjectPrefix();
      for (const [subject, handler] of this.messageHandlers) {
        this.subscriptions.push(
          this.nc.subscribe(scopedSubject(subject, prefix), {
            queue: handler.isEventHandler ? undefined : this.options.queue,
            callback: (error, msg) => {
              if (error) return;
              void this.dispatch(subject, handler, msg);
            },
          }),
        );
      }
      await this.nc.flush();
      callback();
    } catch (error) {
      callback(error);
    }
  }

  private async dispatch(subject: string, handler: MessageHandler, msg: Msg): Promise<void> {
    let payload: unknown;
    try {
      payload = decodeJson(msg.data);
    } catch {
      this.respond(msg, { ok: false, error: new RungateError('BAD_REQUEST', 'the request is not JSON').toBody() });
      return;
    }
    const heartbeats = handler.isEventHandler ? undefined : this.heartbeats(msg);
    try {
      const reply = await withContext(msg.headers?.get('traceparent') || undefined, () =>
        invokeHandler(subject, handler, payload, { subject, headers: msg.headers }),
      );
      if (!handler.isEventHandler) this.respond(msg, reply);
    } finally {
      clearInterval(heartbeats);
    }
  }

  /**
   * A requester that asked for heartbeats hears "still working" every interval until the
   * reply, so it can tell a long run from a dead responder. Short requests send none.
   */
  private heartbeats(msg: Msg): NodeJS.Timeout | undefined {
    const asked = Number(msg.headers?.get(HEARTBEAT_HEADER));
    if (!msg.reply || !Number.isFinite(asked) || asked <= 0) return undefined;
    const headers = natsHeaders();
    headers.set(WORKING_HEADER, '1');
    const timer = setInterval(() => {
      if (!this.nc?.isClosed()) this.nc?.publish(msg.reply as string, new Uint8Array(0), { headers });
    }, Math.max(MIN_HEARTBEAT_MS, asked));
    timer.unref();
    return timer;
  }

  private respond(msg: Msg, reply: Reply<unknown> | undefined): void {
    if (!msg.reply) return;
    const data = encodeJson(reply ?? { ok: false, error: { code: 'INTERNAL', message: 'handler returned nothing' } });
    const limit = this.nc?.info?.max_payload;
    if (limit !== undefined && data.length > limit) {
      // Answer at once rather than leave the caller to time out on a reply NATS would refuse.
      const error = new RungateError('INTERNAL', `the reply to ${msg.subject} (${data.length} bytes) exceeds the NATS max_payload (${limit} bytes)`);
      msg.respond(encodeJson({ ok: false, error: error.toBody() }));
      return;
    }
    msg.respond(data);
  }

  async close(): Promise<void> {
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.subscriptions = [];
    await this.nc?.flush().catch(() => undefined);
  }

  on(): void {
    // Connection status is watched where the connection is owned (NatsModule).
  }

  unwrap<T>(): T {
    if (!this.nc) throw new InternalError('the server is not listening yet');
    return this.nc as T;
  }
}

