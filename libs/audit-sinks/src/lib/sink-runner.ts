import { resolveSecret } from '@rungate/config';
import { AUDIT_STREAM, InternalError } from '@rungate/contracts';
import { ensureAuditStream } from '@rungate/messaging';
import type { Consumer, ConsumerMessages, JetStreamManager, JsMsg, NatsConnection } from 'nats';
import { ZodError } from 'zod';
import { retryDelay } from './backoff';
import {
  AuditSinkConfigs,
  sinkAckWaitMs,
  sinkDurableName,
  sinkMaxAckPending,
  sinkTarget,
  type AuditSinkConfig,
  type AuditSinkConfigInput,
} from './config';
import { SinkDeliveryError, decodeStreamEvent, type SinkDelivery, type SinkErrorCode, type StreamEvent } from './delivery';
import { ensureSinkConsumer, isJetStreamNotFound } from './sink-consumer';
import { SyslogDelivery } from './syslog';
import { WebhookDelivery } from './webhook';
import { Pause } from './pause';

/** Where the runner reports what an operator needs (a Nest Logger fits). */
export interface SinkLog {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export type SinkState = 'idle' | 'delivering' | 'retrying' | 'stopped';

export interface SinkStatus {
  name: string;
  type: AuditSinkConfig['type'];
  format: AuditSinkConfig['format'];
  /** The JetStream durable consumer holding this sink's position. */
  durable: string;
  target: string;
  state: SinkState;
  /** Events confirmed by the receiver since start(). */
  delivered: number;
  /** Events on AUDIT (matching the sink's subject) not yet confirmed; null until first known. */
  lag: number | null;
  lastDeliveredSeq: number | null;
  lastDeliveredAt: string | null;
  consecutiveFailures: number;
  lastError: { code: SinkErrorCode | 'NATS'; message: string; at: string; seq?: number } | null;
}

export interface SinkRunnerOptions {
  log?: SinkLog;
  /** Where `env:` secret references are looked up. */
  env?: NodeJS.ProcessEnv;
  /** How often lag is re-read from the consumer while idle or retrying. */
  lagRefreshMs?: number;
  random?: () => number;
}

const silent: SinkLog = { log: () => undefined, warn: () => undefined, error: () => undefined };
const FETCH_EXPIRES_MS = 1000;
/** Seqs this process confirmed; a redelivery of one of them (its ack got lost) is acked, not re-sent. */
const CONFIRMED_MEMORY = 10_000;

function createDelivery(sink: AuditSinkConfig, env: NodeJS.ProcessEnv): SinkDelivery {
  return sink.type === 'webhook' ? new WebhookDelivery(sink, resolveSecret(sink.secret, env)) : new SyslogDelivery(sink);
}

function describeZodError(error: ZodError): string {
  return error.issues.map((issue) => `audit.sinks${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${issue.message}`).join('; ');
}

/**
 * Delivers the AUDIT stream to every configured sink, each through its own durable pull
 * consumer. Publishers never wait for sinks: a sink that is down only grows its lag. A
 * message is acked after the receiver confirmed it, so nothing is lost and a restart
 * resumes after the last confirmed event (at least once: the one in flight during a crash
 * can arrive twice). Plain class, no framework: apps/audit hosts it.
 */
export class SinkRunner {
  private workers: SinkWorker[] = [];
  private started = false;

  constructor(private readonly options: SinkRunnerOptions = {}) {}

  /**
   * Validates the sinks (names, URLs, secrets, CA files), creates or updates their durable
   * consumers, then starts one delivery loop per sink. Throws — and starts nothing — when a
   * sink is misconfigured or JetStream refuses a consumer.
   */
  async start(sinks: readonly AuditSinkConfigInput[], nc: NatsConnection): Promise<void> {
    if (this.started) throw new InternalError('SinkRunner is already started; stop() it first');
    const parsed = parseSinks(sinks);
    const env = this.options.env ?? process.env;
    const deliveries: SinkDelivery[] = [];
    try {
      deliveries.push(...createDeliveries(parsed, env));
      const jsm = await nc.jetstreamManager();
      await ensureAuditStream(jsm);
      for (const sink of parsed) {
        try {
          await ensureSinkConsumer(jsm, sink);
        } catch (error) {
          throw new InternalError(`audit sink "${sink.name}": cannot set up consumer ${sinkDurableName(sink.name)} (${(error as Error).message})`);
        }
      }
      this.workers = parsed.map((sink, i) => new SinkWorker(sink, deliveries[i] as SinkDelivery, nc, jsm, this.options));
    } catch (error) {
      await Promise.all(deliveries.map((d) => d.close()));
      throw error;
    }
    this.started = true;
    for (const worker of this.workers) worker.start();
  }

  /**
   * Checks sinks as `start` would (names, URLs, secrets, CA files) without touching JetStream
   * or delivering anything, so a reload can refuse a bad list before stopping running sinks.
   */
  static async check(sinks: readonly AuditSinkConfigInput[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
    const deliveries = createDeliveries(parseSinks(sinks), env);
    await Promise.all(deliveries.map((d) => d.close()));
  }

  /**
   * Stops fetching, lets an attempt in flight finish (bounded by the sink timeout), acks
   * what was confirmed and hands back (nak) what was not, so the next start resumes at once.
   */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    this.started = false;
  }

  status(): SinkStatus[] {
    return this.workers.map((w) => w.snapshot());
  }
}

function parseSinks(sinks: readonly AuditSinkConfigInput[]): AuditSinkConfig[] {
  try {
    return AuditSinkConfigs.parse(sinks);
  } catch (error) {
    throw error instanceof ZodError ? new InternalError(`invalid audit sink configuration: ${describeZodError(error)}`) : error;
  }
}

/** One delivery per sink; if any cannot be made, the ones made are closed and the error names its sink. */
function createDeliveries(parsed: readonly AuditSinkConfig[], env: NodeJS.ProcessEnv): SinkDelivery[] {
  const deliveries: SinkDelivery[] = [];
  for (const sink of parsed) {
    try {
      deliveries.push(createDelivery(sink, env));
    } catch (error) {
      for (const made of deliveries) void made.close();
      throw new InternalError(`audit sink "${sink.name}": ${(error as Error).message}`);
    }
  }
  return deliveries;
}

class SinkWorker {
  private readonly status: SinkStatus;
  private readonly log: SinkLog;
  private readonly random: () => number;
  private readonly lagRefreshMs: number;
  private running = false;
  private loop?: Promise<void>;
  private fetching?: ConsumerMessages;
  private readonly pause = new Pause();
  private lagReadAt = 0;
  private readonly confirmed = new Set<number>();

  constructor(
    private readonly sink: AuditSinkConfig,
    private readonly delivery: SinkDelivery,
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    options: SinkRunnerOptions,
  ) {
    this.log = options.log ?? silent;
    this.random = options.random ?? Math.random;
    this.lagRefreshMs = options.lagRefreshMs ?? 5000;
    this.status = {
      name: sink.name,
      type: sink.type,
      format: sink.format,
      durable: sinkDurableName(sink.name),
      target: sinkTarget(sink),
      state: 'idle',
      delivered: 0,
      lag: null,
      lastDeliveredSeq: null,
      lastDeliveredAt: null,
      consecutiveFailures: 0,
      lastError: null,
    };
  }

  snapshot(): SinkStatus {
    return { ...this.status, lastError: this.status.lastError ? { ...this.status.lastError } : null };
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.pause.wake();
    await this.fetching?.close();
    await this.loop;
    await this.delivery.close();
    if (!this.nc.isClosed()) await this.nc.flush().catch(() => undefined);
    this.status.state = 'stopped';
  }

  private async run(): Promise<void> {
    await this.waitForHeldMessages();
    let natsFailures = 0;
    while (this.running) {
      try {
        const consumer = await this.nc.jetstream().consumers.get(AUDIT_STREAM, this.status.durable);
        while (this.running) {
          const messages = await this.fetch(consumer);
          natsFailures = 0;
          if (!this.running) {
            this.handBack(messages);
            break;
          }
          if (messages.length === 0) {
            this.status.state = 'idle';
            await this.refreshLag();
            continue;
          }
          await this.handle(messages);
        }
      } catch (error) {
        if (!this.running) break;
        if (this.nc.isClosed()) {
          this.fail('NATS', `the NATS connection is closed; sink "${this.sink.name}" stops`);
          this.log.error(`audit sink "${this.sink.name}": the NATS connection is closed; no more deliveries until restarted`);
          break;
        }
        natsFailures += 1;
        this.fail('NATS', `reading ${AUDIT_STREAM} failed: ${(error as Error).message}`);
        this.log.warn(`audit sink "${this.sink.name}": reading ${AUDIT_STREAM} failed (${(error as Error).message}); resuming`);
        await this.recreateConsumerIfDeleted();
        await this.pause.sleep(retryDelay(natsFailures, this.sink.retry, this.random));
      }
    }
    this.status.state = 'stopped';
  }

  /**
   * Messages a crashed runner held stay unacked until their ack wait runs out. JetStream
   * then hands them out before anything newer, but a batch fetch made earlier would get
   * newer events first (max_ack_pending is not yet reached); waiting one ack wait keeps
   * stream order. A runner that stopped gracefully handed its messages back: no wait.
   */
  private async waitForHeldMessages(): Promise<void> {
    const info = await this.jsm.consumers.info(AUDIT_STREAM, this.status.durable).catch(() => undefined);
    if (!info || info.num_ack_pending === 0) return;
    const wait = sinkAckWaitMs(this.sink) + 500;
    this.log.warn(
      `audit sink "${this.sink.name}": ${info.num_ack_pending} events are still held by a previous runner; resuming in ${wait} ms, when JetStream hands them out again`,
    );
    await this.pause.sleep(wait);
  }

  private async fetch(consumer: Consumer): Promise<JsMsg[]> {
    const batch = await consumer.fetch({ max_messages: sinkMaxAckPending(this.sink), expires: FETCH_EXPIRES_MS });
    this.fetching = batch;
    const messages: JsMsg[] = [];
    try {
      for await (const message of batch) messages.push(message);
    } finally {
      this.fetching = undefined;
    }
    return messages;
  }

  private async handle(messages: JsMsg[]): Promise<void> {
    const fresh = messages.filter((m) => !this.confirmed.has(m.seq));
    if (fresh.length > 0) {
      const events = fresh.map((m) =>
        decodeStreamEvent({ seq: m.seq, subject: m.subject, data: m.data, storedAt: new Date(Math.floor(m.info.timestampNanos / 1e6)) }),
      );
      for (const { event, seq } of events) {
        if (event.type === 'audit.admin.malformed_event') {
          this.log.error(`audit sink "${this.sink.name}": ${AUDIT_STREAM} message ${seq} is not a valid audit event; forwarding it as audit.admin.malformed_event`);
        }
      }
      const confirmed = await this.deliverUntilConfirmed(events, messages);
      if (!confirmed) {
        this.handBack(messages);
        return;
      }
      this.remember(fresh.map((m) => m.seq));
      this.status.delivered += fresh.length;
      this.status.lastDeliveredAt = new Date().toISOString();
    }
    const last = messages[messages.length - 1] as JsMsg;
    this.status.lastDeliveredSeq = last.seq;
    this.status.lag = last.info.pending;
    // A lost ack only means a redelivery, which `confirmed` recognises; no need to wait forever.
    await Promise.all(messages.map((m) => m.ackAck({ timeout: 5000 }).catch(() => false)));
  }

  /** Retries the same events until the receiver confirms them; false only when stopping. */
  private async deliverUntilConfirmed(events: StreamEvent[], messages: JsMsg[]): Promise<boolean> {
    // Keep JetStream from handing the messages to someone else while we retry.
    const heartbeat = setInterval(() => this.signal(messages, (m) => m.working()), Math.floor(sinkAckWaitMs(this.sink) / 3));
    try {
      for (let attempt = 1; ; attempt++) {
        this.status.state = attempt === 1 ? 'delivering' : 'retrying';
        try {
          await this.delivery.deliver({ events, attempt });
          if (this.status.consecutiveFailures > 0) {
            this.log.log(`audit sink "${this.sink.name}" delivers again after ${this.status.consecutiveFailures} failed attempts`);
          }
          this.status.consecutiveFailures = 0;
          return true;
        } catch (error) {
          const failure = error instanceof SinkDeliveryError ? error : new SinkDeliveryError('INTERNAL', (error as Error).message);
          this.status.consecutiveFailures += 1;
          const seq = events[0]?.seq;
          this.fail(failure.code, failure.message, seq);
          await this.refreshLag();
          const failures = this.status.consecutiveFailures;
          const backoff = retryDelay(failures, this.sink.retry, this.random);
          const wait = Math.min(this.sink.retry.maxDelay, Math.max(backoff, failure.retryAfterMs ?? 0));
          const text = `audit sink "${this.sink.name}" (${this.status.target}) failed to deliver ${AUDIT_STREAM} seq ${seq}: ${failure.message}; retry in ${wait} ms`;
          if (failures >= this.sink.retry.alertAfter) {
            this.log.error(
              `${text}. ${failures} failures in a row: events are held, never skipped, and ${this.status.lag ?? 'an unknown number of'} events wait for this sink`,
            );
          } else {
            this.log.warn(text);
          }
          if (!this.running) return false;
          await this.pause.sleep(wait);
          if (!this.running) return false;
        }
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Unconfirmed messages go back to JetStream at once, so the next runner needs no ack-wait. */
  private handBack(messages: JsMsg[]): void {
    this.signal(messages, (m) => m.nak());
  }

  /** Acks are plain publishes; on a closed connection they throw, and JetStream's ack wait takes over. */
  private signal(messages: JsMsg[], send: (message: JsMsg) => void): void {
    if (this.nc.isClosed()) return;
    try {
      messages.forEach(send);
    } catch {
      // The connection closed between the check and the publish.
    }
  }

  private remember(seqs: number[]): void {
    for (const seq of seqs) this.confirmed.add(seq);
    for (const seq of this.confirmed) {
      if (this.confirmed.size <= CONFIRMED_MEMORY) break;
      this.confirmed.delete(seq);
    }
  }

  private fail(code: SinkErrorCode | 'NATS', message: string, seq?: number): void {
    this.status.lastError = { code, message, at: new Date().toISOString(), ...(seq !== undefined ? { seq } : {}) };
  }

  /** Lag comes with every delivered message; while idle or failing it is re-read, at most every lagRefreshMs. */
  private async refreshLag(): Promise<void> {
    if (Date.now() - this.lagReadAt < this.lagRefreshMs) return;
    this.lagReadAt = Date.now();
    try {
      const info = await this.jsm.consumers.info(AUDIT_STREAM, this.status.durable);
      this.status.lag = info.num_pending + info.num_ack_pending;
    } catch {
      // Lag is informational; the delivery loop reports NATS problems itself.
    }
  }

  /**
   * Someone deleted the durable: recreate it right after the last event this process
   * confirmed rather than from the configured start (which would re-send everything).
   */
  private async recreateConsumerIfDeleted(): Promise<void> {
    try {
      await this.jsm.consumers.info(AUDIT_STREAM, this.status.durable);
    } catch (error) {
      if (!isJetStreamNotFound(error)) return;
      const resume = this.status.lastDeliveredSeq;
      const start = resume !== null ? { sequence: resume + 1 } : this.sink.start;
      const from = resume !== null ? `seq ${resume + 1}` : JSON.stringify(this.sink.start);
      this.log.error(`audit sink "${this.sink.name}": consumer ${this.status.durable} was deleted; recreating it from ${from}`);
      await ensureSinkConsumer(this.jsm, this.sink, start).catch(() => undefined);
    }
  }

}
