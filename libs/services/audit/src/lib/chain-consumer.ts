import { AUDIT_STREAM, InternalError } from '@rungate/contracts';
import { AuditStore, type ChainHead } from '@rungate/persistence';
import { AckPolicy, DeliverPolicy, ReplayPolicy, nanos, type ConsumerConfig, type ConsumerMessages, type JetStreamManager, type JsMsg, type NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { WriterLease } from './writer-lease';
import { Pause } from '@rungate/audit-sinks';

/** Where the writer reports what an operator needs (a Nest Logger fits). */
export interface ChainLog {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface CommittedBatch {
  /** Stream sequences of the batch, in order (redelivered ones included). */
  seqs: number[];
  /** How many of them became rows; the others were already stored. */
  written: number;
  head: ChainHead;
}

export interface ChainConsumerOptions {
  nc: NatsConnection;
  db: DataSource;
  /** The durable consumer on AUDIT that holds the writer's position. */
  durable: string;
  /** Where a new durable starts when the table is empty. */
  deliver: 'all' | 'new';
  log: ChainLog;
  /** Most events per transaction; smaller batches form by themselves when the stream is quiet. */
  maxBatch?: number;
  /** How often a standby tries to take the lease, and the writer checks it still has it. */
  leaseCheckMs?: number;
  /** After each commit: metrics, followers, the benchmark. */
  onCommitted?: (batch: CommittedBatch) => void;
  /** Events on the stream not yet in the table, whenever it is known anew. */
  onLag?: (events: number) => void;
  onRole?: (role: ChainRole) => void;
}

export type ChainRole = 'writer' | 'standby' | 'stopped';

export interface ChainWriterStatus {
  role: ChainRole;
  /** True while the writer is reading the stream (not between sessions, not retrying). */
  consuming: boolean;
  durable: string;
  /** The table's last stream sequence, as this process last saw it. */
  headSeq: number | null;
  /** Rows this process appended since start. */
  written: number;
  /** Events on the stream not yet in the table; null until known. */
  lag: number | null;
  lastCommitAt: string | null;
  lastError: { message: string; at: string } | null;
}

const ACK_WAIT_MS = 60_000;

/** The stream holds events the table lacks: re-point the durable to the first of them. */
class Gap {
  constructor(readonly resumeAt: number) {}
}

/**
 * The JetStream side of the chain writer: one durable consumer fed to the AuditStore (the
 * core that orders, chains and inserts exactly once; the all-in-one mode uses it without
 * this class). Messages arrive through `consume`, and whatever arrived while a transaction
 * was committing goes into the next one: group commit, so a quiet stream is written event by
 * event and a busy one in large batches. A batch is acked (ack-all, one ack for the batch)
 * only after its rows committed.
 *
 * The table, not the durable, is the position. A message newer than the row after the head
 * means some are still held elsewhere (a crashed writer's, or lost in a reconnect) and would
 * come back only after their ack wait, after newer ones: the durable is re-pointed to the
 * row after the head instead of writing past the hole. Exactly one replica writes (see
 * WriterLease); the others stand by.
 */
export class ChainConsumer {
  private readonly store: AuditStore;
  private readonly lease: WriterLease;
  private readonly maxBatch: number;
  private readonly leaseCheckMs: number;
  private running = false;
  private loop?: Promise<void>;
  private messages?: ConsumerMessages;
  private queue: JsMsg[] = [];
  private flushing?: Promise<void>;
  private gap?: Gap;
  private failure?: Error;
  private readonly pause = new Pause();
  private readonly state: ChainWriterStatus;
  private settle: () => void = () => undefined;
  private readonly firstSettled = new Promise<void>((resolve) => (this.settle = resolve));

  constructor(private readonly options: ChainConsumerOptions) {
    this.store = new AuditStore(options.db);
    this.lease = new WriterLease(options.db, options.durable);
    this.maxBatch = options.maxBatch ?? 1000;
    this.leaseCheckMs = options.leaseCheckMs ?? 5000;
    this.state = { role: 'standby', consuming: false, durable: options.durable, headSeq: null, written: 0, lag: null, lastCommitAt: null, lastError: null };
  }

  status(): ChainWriterStatus {
    return { ...this.state, lastError: this.state.lastError ? { ...this.state.lastError } : null };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Resolves once the first attempt settled: reading the stream (its durable exists, so
   * `deliver: new` counts from here), standing by, or failed (and retrying).
   */
  settled(): Promise<void> {
    return this.firstSettled;
  }

  /** Commits what already arrived (or hands it back), closes the consumer and gives up the lease. */
  async stop(): Promise<void> {
    this.running = false;
    this.pause.wake();
    await this.messages?.close();
    await this.loop;
    this.setRole('stopped');
    this.settle();
  }

  private setRole(role: ChainRole): void {
    if (this.state.role === role) return;
    this.state.role = role;
    this.options.onRole?.(role);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        if (!(await this.lease.tryAcquire())) {
          if (this.state.role !== 'standby') this.options.log.log(`another audit replica writes the chain (${this.options.durable}); standing by`);
          this.setRole('standby');
          this.settle();
          await this.pause.sleep(this.leaseCheckMs);
          continue;
        }
        if (this.state.role !== 'writer') this.options.log.log(`writing the audit chain from durable ${this.options.durable}`);
        this.setRole('writer');
        await this.session();
        failures = 0;
      } catch (error) {
        if (!this.running) break;
        failures += 1;
        const message = (error as Error).message;
        this.state.lastError = { message, at: new Date().toISOString() };
        this.settle();
        const delay = Math.min(200 * 2 ** (failures - 1), 5000);
        this.options.log.warn(`audit chain writer interrupted (${message}); resuming in ${delay} ms`);
        await this.pause.sleep(delay);
      }
    }
    await this.lease.release();
  }

  /** One consume() from the durable, until stopped, the lease is lost, a gap or an error. */
  private async session(): Promise<void> {
    const head = await this.store.loadHead();
    this.state.headSeq = head.seq;
    const jsm = await this.options.nc.jetstreamManager();
    await this.positionDurable(jsm, head);
    const consumer = await this.options.nc.jetstream().consumers.get(AUDIT_STREAM, this.options.durable);
    const messages = await consumer.consume({
      max_messages: this.maxBatch,
      abort_on_missing_resource: true,
      callback: (message) => this.enqueue(message),
    });
    this.messages = messages;
    if (!this.running) await messages.close();
    const watchdog = setInterval(() => void this.watch(jsm, messages), this.leaseCheckMs);
    this.state.consuming = true;
    this.settle();
    try {
      const closed = await messages.closed();
      await this.drain();
      if (this.gap) {
        const { resumeAt } = this.gap;
        this.gap = undefined;
        await this.repoint(jsm, resumeAt);
        return;
      }
      if (this.failure) throw this.failure;
      if (closed instanceof Error) throw closed;
    } finally {
      this.state.consuming = false;
      clearInterval(watchdog);
      this.messages = undefined;
      this.failure = undefined;
    }
  }

  private async watch(jsm: JetStreamManager, messages: ConsumerMessages): Promise<void> {
    if (!(await this.lease.stillHeld())) {
      this.options.log.error('the audit writer lease was lost with its database session; stopping writes until it is held again');
      await messages.close();
      return;
    }
    if (this.queue.length > 0 || this.flushing) return;
    try {
      const info = await jsm.consumers.info(AUDIT_STREAM, this.options.durable);
      this.reportLag(info.num_pending + info.num_ack_pending);
    } catch {
      // Lag is informational; consume() reports a missing consumer itself.
    }
  }

  /**
   * Before reading, the durable must deliver the row after the head next. It is re-pointed
   * when it holds unacked messages (a writer died with them), when it is not where the
   * table is (the table was restored, or the durable recreated), or when it was made with
   * other settings (ack policy, by an older version).
   */
  private async positionDurable(jsm: JetStreamManager, head: ChainHead): Promise<void> {
    let info;
    try {
      info = await jsm.consumers.info(AUDIT_STREAM, this.options.durable);
    } catch (error) {
      if ((error as { code?: string }).code !== '404') throw error;
      const start: Partial<ConsumerConfig> =
        head.seq > 0
          ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: head.seq + 1 }
          : { deliver_policy: this.options.deliver === 'new' ? DeliverPolicy.New : DeliverPolicy.All };
      await jsm.consumers.add(AUDIT_STREAM, this.consumerConfig(start));
      return;
    }
    if (info.config.deliver_subject) {
      throw new InternalError(`consumer ${this.options.durable} on ${AUDIT_STREAM} is a push consumer, not the chain writer's; delete it or set audit.consumer to another name`);
    }
    const held = info.num_ack_pending > 0;
    const elsewhere = head.seq > 0 && info.delivered.stream_seq !== head.seq;
    if (held || elsewhere || info.config.ack_policy !== AckPolicy.All) {
      await this.repoint(jsm, head.seq > 0 ? head.seq + 1 : info.ack_floor.stream_seq + 1);
    }
  }

  private consumerConfig(start: Partial<ConsumerConfig>): Partial<ConsumerConfig> {
    return {
      durable_name: this.options.durable,
      description: 'Rungate audit chain writer',
      // Rows are committed in stream order and never past a gap, so one ack of a batch's
      // last message confirms the whole batch: one ack per commit instead of per event.
      ack_policy: AckPolicy.All,
      ack_wait: nanos(ACK_WAIT_MS),
      max_ack_pending: this.maxBatch * 4,
      max_deliver: -1,
      replay_policy: ReplayPolicy.Instant,
      ...start,
    };
  }

  private async repoint(jsm: JetStreamManager, seq: number): Promise<void> {
    this.options.log.warn(`re-pointing ${this.options.durable} to stream sequence ${seq}, the event after the table's head`);
    await jsm.consumers.delete(AUDIT_STREAM, this.options.durable).catch((error: { code?: string }) => {
      if (error.code !== '404') throw error;
    });
    await jsm.consumers.add(AUDIT_STREAM, this.consumerConfig({ deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: seq }));
  }

  private enqueue(message: JsMsg): void {
    this.queue.push(message);
    this.flushing ??= this.flush().finally(() => {
      this.flushing = undefined;
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0 && !this.gap && !this.failure) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const gap = await this.findGap(batch);
        if (gap) {
          this.gap = gap;
          this.handBack([...batch, ...this.queue.splice(0)]);
          await this.messages?.close();
          return;
        }
        const written = await this.appendUntilStored(batch);
        (batch[batch.length - 1] as JsMsg).ack();
        this.committed(batch, written);
      } catch (error) {
        this.failure = error as Error;
        this.handBack([...batch, ...this.queue.splice(0)]);
        await this.messages?.close();
        return;
      }
    }
  }

  /** Waits for the commit in progress; what is still queued is committed too unless something went wrong. */
  private async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.queue.length === 0) return;
    if (this.gap || this.failure) {
      this.handBack(this.queue.splice(0));
      return;
    }
    await this.flush();
  }

  private committed(batch: JsMsg[], written: number): void {
    const head = this.store.cachedHead;
    this.state.written += written;
    this.state.lastCommitAt = new Date().toISOString();
    if (head) this.state.headSeq = head.seq;
    const last = batch[batch.length - 1] as JsMsg;
    this.reportLag(last.info.pending + this.queue.length);
    if (head && this.options.onCommitted) this.options.onCommitted({ seqs: batch.map((m) => m.seq), written, head });
  }

  private reportLag(events: number): void {
    this.state.lag = events;
    this.options.onLag?.(events);
  }

  /**
   * A batch that does not start right after the head: if the missing events are still on
   * the stream, they are held elsewhere; if limits aged them out, there is nothing to wait for.
   */
  private async findGap(batch: JsMsg[]): Promise<Gap | undefined> {
    const head = this.store.cachedHead ?? (await this.store.loadHead());
    if (head.seq === 0) return undefined;
    const next = batch.find((m) => m.seq > head.seq);
    if (!next || next.seq === head.seq + 1) return undefined;
    const jsm = await this.options.nc.jetstreamManager();
    const firstOnStream = (await jsm.streams.info(AUDIT_STREAM)).state.first_seq;
    if (head.seq + 1 >= firstOnStream) return new Gap(head.seq + 1);
    this.options.log.error(
      `${AUDIT_STREAM} sequences ${head.seq + 1}–${next.seq - 1} left the stream (retention limits) before they were written; the chain continues at ${next.seq}`,
    );
    return undefined;
  }

  /** A database outage holds the batch (unacked, kept from redelivery) and retries; nothing is skipped. */
  private async appendUntilStored(batch: JsMsg[]): Promise<number> {
    const events = batch.map((m) => ({ seq: m.seq, subject: m.subject, data: m.string() }));
    let delay = 200;
    for (;;) {
      try {
        return await this.store.append(events);
      } catch (error) {
        if (!this.running) throw error;
        const message = (error as Error).message;
        this.state.lastError = { message, at: new Date().toISOString() };
        this.options.log.error(`cannot write audit events (${message}); retrying in ${delay} ms`);
        for (const m of batch) m.working();
        await this.pause.sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** Unwritten messages go back to JetStream at once; on a closed connection the ack wait does it. */
  private handBack(messages: JsMsg[]): void {
    if (this.options.nc.isClosed()) return;
    try {
      for (const message of messages) message.nak();
    } catch {
      // The connection closed between the check and the publish.
    }
  }

}
