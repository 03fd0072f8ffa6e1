import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { subjectPrefix } from '@rungate/messaging';
import { CONFIG, Metrics, NATS_CONNECTION, Readiness, type ConfigHolder } from '@rungate/runtime';
import type { NatsConnection } from 'nats';
import { AuditDatabase } from './audit-database';
import { ChainConsumer, type ChainWriterStatus } from './chain-consumer';
import { AuditMetrics } from './metrics';

/**
 * The audit service's chain writer: hosts the ChainConsumer for the service's lifetime. The
 * durable's name comes from `audit.consumer` (default `rungate-audit`, suffixed with the
 * subject prefix so deployments sharing a NATS cluster keep their own position); changing it
 * needs a restart.
 */
@Injectable()
export class ChainWriter implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger(ChainWriter.name);
  private consumer?: ChainConsumer;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection | undefined,
    private readonly database: AuditDatabase,
    readiness: Readiness,
  ) {
    // A standby is ready: it serves queries and takes over when the writer goes. Without
    // NATS (the all-in-one mode) the chain is written in-process and there is nothing to read.
    readiness.register('chain-writer', () => {
      if (!this.nc) return true;
      const status = this.consumer?.status();
      return status !== undefined && (status.role === 'standby' || status.consuming);
    });
  }

  get durableName(): string {
    const prefix = subjectPrefix();
    return this.config.current.audit.consumer ?? `rungate-audit${prefix ? `-${prefix}` : ''}`;
  }

  status(): ChainWriterStatus | undefined {
    return this.consumer?.status();
  }

  /** Waits for the writer's first attempt, so a started service is already reading the stream. */
  async onApplicationBootstrap(): Promise<void> {
    if (!this.nc) {
      this.log.log('no NATS connection: the chain is written in-process, not from the AUDIT stream');
      return;
    }
    this.consumer = new ChainConsumer({
      nc: this.nc,
      db: this.database.db,
      durable: this.durableName,
      deliver: this.config.current.audit.deliver,
      log: this.log,
      onCommitted: ({ written, head }) => {
        AuditMetrics.written.inc(written);
        AuditMetrics.headSeq.set(head.seq);
      },
      onLag: (events) => Metrics.auditLag.set(events),
      onRole: (role) => AuditMetrics.writer.set(role === 'writer' ? 1 : 0),
    });
    this.consumer.start();
    await this.consumer.settled();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer?.stop();
  }
}
