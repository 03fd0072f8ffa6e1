import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { AUDIT_STREAM } from '@rungate/contracts';
import { subjectPrefix } from '@rungate/messaging';
import { AuditStore, openDatabase, databaseUrl } from '@rungate/persistence';
import { CONFIG, Metrics, NATS_CONNECTION, Readiness, type ConfigHolder } from '@rungate/runtime';
import { AckPolicy, DeliverPolicy, nanos, type JsMsg, type NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';

const BATCH = 500;

/**
 * The one chain writer per stream: a durable consumer reads AUDIT in order, chains each
 * event onto the last stored hash and appends it; a message is acked only after its row is
 * committed, so a crash or a database outage loses nothing and duplicates nothing.
 */
@Injectable()
export class ChainWriter implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(ChainWriter.name);
  private db?: DataSource;
  private store?: AuditStore;
  private running = false;
  private loop?: Promise<void>;
  private lastActivity = Date.now();
  written = 0;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    readiness: Readiness,
  ) {
    readiness.register('database', async () => {
      if (!this.db) return false;
      await this.db.query('SELECT 1');
      return true;
    });
    readiness.register('consumer', () => this.running && Date.now() - this.lastActivity < 30_000);
  }

  get durableName(): string {
    const prefix = subjectPrefix();
    return this.config.current.audit.consumer ?? `rungate-audit${prefix ? `-${prefix}` : ''}`;
  }

  get database(): DataSource | undefined {
    return this.db;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.db = await openDatabase(databaseUrl());
    this.store = new AuditStore(this.db);
    await this.store.loadHead();
    const jsm = await this.nc.jetstreamManager();
    try {
      await jsm.consumers.info(AUDIT_STREAM, this.durableName);
    } catch {
      await jsm.consumers.add(AUDIT_STREAM, {
        durable_name: this.durableName,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: this.config.current.audit.deliver === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
        max_ack_pending: BATCH * 4,
        ack_wait: nanos(60_000),
      });
    }
    this.running = true;
    this.loop = this.consume();
  }

  async onApplicationShutdown(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.db?.destroy();
  }

  private async consume(): Promise<void> {
    let delay = 200;
    while (this.running) {
      try {
        const consumer = await this.nc.jetstream().consumers.get(AUDIT_STREAM, this.durableName);
        while (this.running) {
          this.lastActivity = Date.now();
          const batch = await consumer.fetch({ max_messages: BATCH, expires: 1000 });
          const messages: JsMsg[] = [];
          for await (const message of batch) messages.push(message);
          if (messages.length === 0) {
            Metrics.auditLag.set(0);
            continue;
          }
          await this.appendUntilStored(messages);
          for (const message of messages) message.ack();
          delay = 200;
          const pending = messages[messages.length - 1]?.info.pending ?? 0;
          Metrics.auditLag.set(pending);
        }
      } catch (error) {
        if (!this.running) break;
        this.log.warn(`audit consumer interrupted (${(error as Error).message}); resuming`);
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** A database outage holds the batch (unacked) and retries; nothing is skipped. */
  private async appendUntilStored(messages: JsMsg[]): Promise<void> {
    const events = messages.map((m) => ({ seq: m.seq, subject: m.subject, data: m.string() }));
    let delay = 200;
    for (;;) {
      try {
        this.written += await (this.store as AuditStore).append(events);
        return;
      } catch (error) {
        if (!this.running) throw error;
        this.log.error(`cannot write audit events (${(error as Error).message}); retrying`);
        for (const message of messages) message.working();
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }
}
