import { readEnvironment } from '@rungate/config';
import { ErrorCode, RungateError, replySchema, type Reply } from '@rungate/contracts';
import { createInbox, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type NatsError } from 'nats';
import { outgoingTraceparent } from './trace';
import type { z } from 'zod';

export interface RequestOptions {
  timeoutMs: number;
  /** Extra headers, e.g. trace context. */
  headers?: Record<string, string>;
  /**
   * For long requests whose responder may die mid-way (an executor running a runbook): the
   * responder reports every `heartbeatMs` that it is still working, and the request fails
   * with a transport error once it has been silent for `HEARTBEAT_MISSES` intervals, instead
   * of waiting out `timeoutMs`. Requests within one process ignore it (nothing can die apart).
   */
  heartbeatMs?: number;
}

/** Sent by a requester that wants heartbeats: the interval in milliseconds. */
export const HEARTBEAT_HEADER = 'Rungate-Heartbeat-Ms';
/** Marks a heartbeat on the reply subject ("still working"); the reply itself has no such header. */
export const WORKING_HEADER = 'Rungate-Working';
/** Silent intervals after which a responder is presumed dead. */
export const HEARTBEAT_MISSES = 4;
/** The shortest interval a responder honours (a requester cannot make it spin). */
export const MIN_HEARTBEAT_MS = 100;

/**
 * Request/reply between services. Payloads are plain JSON validated by zod on both ends;
 * replies are `Reply<T>` so typed errors cross the bus instead of stack traces.
 */
export interface Bus {
  request<S extends z.ZodTypeAny>(subject: string, payload: unknown, schema: S, options: RequestOptions): Promise<z.infer<S>>;
  emit(subject: string, payload: unknown): void;
}

/**
 * Several Rungate deployments (or parallel test runs) can share one NATS cluster: each one's
 * request subjects live under its own prefix. The AUDIT stream is not prefixed.
 */
export function subjectPrefix(env: NodeJS.ProcessEnv = process.env): string {
  return readEnvironment(env).RUNGATE_SUBJECT_PREFIX;
}

export function scopedSubject(subject: string, prefix: string): string {
  return prefix ? `${prefix}.${subject}` : subject;
}

/**
 * An error of the bus itself (nobody answered, no answer in time), as opposed to a typed
 * error the other service replied with: after a transport error the caller cannot know
 * what the other side did.
 */
export function transportError(code: 'SERVICE_UNAVAILABLE' | 'TIMEOUT', message: string): RungateError {
  return new RungateError(code, message, { transport: true });
}

export function isTransportError(error: unknown): error is RungateError {
  return error instanceof RungateError && error.details?.['transport'] === true;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decodeJson(data: Uint8Array): unknown {
  return JSON.parse(decoder.decode(data));
}

/** Parses a reply and turns `{ok:false}` into a thrown RungateError. */
export function unwrapReply<S extends z.ZodTypeAny>(subject: string, raw: unknown, schema: S): z.infer<S> {
  const parsed = replySchema(schema).safeParse(raw);
  if (!parsed.success) {
    throw new RungateError('INTERNAL', `malformed reply on ${subject}`);
  }
  const reply = parsed.data as Reply<z.infer<S>>;
  if (!reply.ok) {
    const code = ErrorCode.safeParse(reply.error.code);
    throw new RungateError(code.success ? code.data : 'INTERNAL', reply.error.message, reply.error.details);
  }
  return reply.value;
}

interface PendingRequest {
  deliver(message: Msg): void;
  fail(error: RungateError): void;
}

interface ReplyInbox {
  prefix: string;
  next: number;
  pending: Map<string, PendingRequest>;
}

/** One wildcard reply inbox per connection, shared by every bus and audit sink on it. */
const inboxes = new WeakMap<NatsConnection, ReplyInbox>();

function sharedInbox(nc: NatsConnection): ReplyInbox {
  let inbox = inboxes.get(nc);
  if (!inbox) {
    const created: ReplyInbox = { prefix: createInbox(), next: 0, pending: new Map() };
    nc.subscribe(`${created.prefix}.*`, {
      callback: (error, message) => {
        if (error) return;
        created.pending.get(message.subject.slice(created.prefix.length + 1))?.deliver(message);
      },
    });
    // No reply can come any more: fail what waits now rather than at its timeout.
    void nc.closed().then(() => {
      for (const request of [...created.pending.values()]) request.fail(transportError('SERVICE_UNAVAILABLE', 'the connection to the message bus closed before the answer came'));
    });
    inboxes.set(nc, created);
    inbox = created;
  }
  return inbox;
}

export interface InboxRequest {
  /** The subject as sent (already scoped). */
  subject: string;
  /** The subject as named in errors. */
  name: string;
  data: Uint8Array;
  headers?: MsgHdrs;
  timeoutMs: number;
  /** See RequestOptions.heartbeatMs; already bounded below by MIN_HEARTBEAT_MS. */
  heartbeatMs?: number;
}

/**
 * A request whose reply arrives on the connection's one wildcard inbox (subscribed once, not
 * per request), routed by its last token. Not nats.js's `request`: its per-request
 * bookkeeping builds a "cancelled" NatsError, stack trace and all, for every request it
 * resolves (bench/README.md: ~30 µs of CPU a request). With `heartbeatMs` the responder may
 * send heartbeats before its reply, and the request fails once it has been silent too long;
 * without, only `timeoutMs` bounds it. A 503 status is NATS saying that nobody subscribes to
 * the subject. Every failure is a transport error (the connection closing fails what waits at
 * once), or what `nc.publish` threw.
 */
export function requestOnSharedInbox(nc: NatsConnection, request: InboxRequest): Promise<Msg> {
  const { name, heartbeatMs: interval } = request;
  const inbox = sharedInbox(nc);
  const token = String(++inbox.next);
  return new Promise<Msg>((resolve, reject) => {
    let silence: NodeJS.Timeout | undefined;
    const done = (settle: () => void) => {
      clearTimeout(silence);
      clearTimeout(deadline);
      inbox.pending.delete(token);
      settle();
    };
    const listen = () => {
      if (interval === undefined) return;
      clearTimeout(silence);
      silence = setTimeout(
        () => done(() => reject(transportError('TIMEOUT', `the service answering ${name} stopped reporting (silent for ${interval * HEARTBEAT_MISSES} ms)`))),
        interval * HEARTBEAT_MISSES,
      );
    };
    const deadline = setTimeout(() => done(() => reject(transportError('TIMEOUT', `no answer on ${name} within ${request.timeoutMs} ms`))), request.timeoutMs);
    listen();
    inbox.pending.set(token, {
      deliver: (message) => {
        if (message.data.length === 0 && message.headers?.code === 503) return done(() => reject(noResponders(name)));
        if (message.headers?.get(WORKING_HEADER)) return listen();
        done(() => resolve(message));
      },
      fail: (error) => done(() => reject(error)),
    });
    try {
      nc.publish(request.subject, request.data, { reply: `${inbox.prefix}.${token}`, ...(request.headers ? { headers: request.headers } : {}) });
    } catch (error) {
      done(() => reject(error));
    }
  });
}

export class NatsBus implements Bus {
  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix = subjectPrefix(),
  ) {}

  async request<S extends z.ZodTypeAny>(subject: string, payload: unknown, schema: S, options: RequestOptions): Promise<z.infer<S>> {
    let message: Msg;
    try {
      const interval = options.heartbeatMs ? Math.max(MIN_HEARTBEAT_MS, options.heartbeatMs) : undefined;
      const headers = hopHeaders(interval === undefined ? options.headers : { ...options.headers, [HEARTBEAT_HEADER]: String(interval) });
      message = await requestOnSharedInbox(this.nc, {
        subject: scopedSubject(subject, this.prefix),
        name: subject,
        data: encodeJson(payload),
        timeoutMs: options.timeoutMs,
        ...(headers ? { headers } : {}),
        ...(interval === undefined ? {} : { heartbeatMs: interval }),
      });
    } catch (error) {
      if (isTransportError(error)) throw error;
      throw transportError('SERVICE_UNAVAILABLE', `the message bus is unavailable (${(error as NatsError).code ?? 'error'})`);
    }
    let raw: unknown;
    try {
      raw = decodeJson(message.data);
    } catch {
      throw new RungateError('INTERNAL', `reply on ${subject} is not JSON`);
    }
    return unwrapReply(subject, raw, schema);
  }

  emit(subject: string, payload: unknown): void {
    this.nc.publish(scopedSubject(subject, this.prefix), encodeJson(payload), { headers: hopHeaders() });
  }
}

/** Nobody subscribes to the subject (NATS's 503, or no handler in process): the request was never delivered. */
export function noResponders(subject: string): RungateError {
  return new RungateError('SERVICE_UNAVAILABLE', `no service is answering ${subject}; is it running?`, { transport: true, noResponders: true });
}

/** The request reached nobody, so nothing acted on it: the one transport error after which asking otherwise is safe. */
export function isNoResponders(error: unknown): boolean {
  return isTransportError(error) && error.details?.['noResponders'] === true;
}

/** Headers for the next hop: the caller's trace context (requests and events alike), then any extras. */
function hopHeaders(extra: Record<string, string> = {}): MsgHdrs | undefined {
  const traceparent = outgoingTraceparent();
  if (!traceparent && Object.keys(extra).length === 0) return undefined;
  const headers = natsHeaders();
  if (traceparent) headers.set('traceparent', traceparent);
  for (const [key, value] of Object.entries(extra)) headers.set(key, value);
  return headers;
}
