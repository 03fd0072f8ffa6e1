import { hostname } from 'node:os';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { AttemptCode, AuditActor } from '@rungate/contracts';
import { AttemptAuditor, type Attempt, type AuditSink } from '@rungate/messaging';
import { AUDIT_SINK, CONFIG, SERVICE_CONTEXT, type ConfigHolder, type ServiceContext } from './context';
import { Metrics } from './metrics';

/**
 * The one way a service records an attempt that ran nothing (audit.attempt.denied), limited
 * per token or source address by audit.attemptLimit (ADR 17). One per service instance: in
 * `rungate serve` the gateway and policy each count their own, as their replicas do.
 */
@Injectable()
export class AttemptAudit implements OnApplicationShutdown {
  private readonly log = new Logger('attempts');
  private readonly auditor: AttemptAuditor;
  private readonly service: string;
  private started = false;

  constructor(@Inject(SERVICE_CONTEXT) ctx: ServiceContext, @Inject(CONFIG) config: ConfigHolder, @Inject(AUDIT_SINK) sink: AuditSink) {
    this.service = ctx.service;
    this.auditor = new AttemptAuditor(sink, {
      limits: () => {
        const { events, window, keys } = config.current.audit.attemptLimit;
        return { events, windowMs: window, keys };
      },
      replica: { service: ctx.service, host: hostname(), pid: process.pid },
      log: { error: (message) => this.log.error(message) },
    });
  }

  /** Resolves once the attempt is on the record (or counted); rejects with AUDIT_UNAVAILABLE as publishing does. */
  async record(attempt: Attempt): Promise<void> {
    this.startCounting();
    const how = await this.auditor.record(attempt);
    Metrics.attempts.inc({ service: this.service, code: attempt.code, audit: how });
  }

  /** An attempt refused before anything was checked: only counted, never recorded one by one. */
  count(actor: AuditActor, code: AttemptCode): void {
    this.startCounting();
    this.auditor.count(actor, code);
    Metrics.attempts.inc({ service: this.service, code, audit: 'counted' });
  }

  /** The counter's timer runs only in services that see attempts (not in every executor). */
  private startCounting(): void {
    if (this.started) return;
    this.started = true;
    this.auditor.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.auditor.stop();
  }
}
