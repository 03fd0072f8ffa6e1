import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { SinkRunner, type AuditSinkConfigInput, type SinkStatus } from '@rungate/audit-sinks';
import { CONFIG, NATS_CONNECTION, Readiness, type ConfigHolder } from '@rungate/runtime';
import type { NatsConnection } from 'nats';
import { reportSinksFrom } from './metrics';

/**
 * Runs the SIEM sinks of `audit.sinks` for the service's lifetime. A sink that is down only
 * grows its lag; it never blocks runs or the chain writer. At start a misconfigured sink
 * (unreadable secret, missing CA file) stops the service with the reason; on a hot reload
 * the previous sinks keep running instead and the log says what is wrong with the new ones.
 */
@Injectable()
export class SinkHost implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('AuditSinks');
  private runner?: SinkRunner;
  private running: readonly AuditSinkConfigInput[] = [];
  private reloads: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Why the current configuration's sinks are not the ones running, if they are not. */
  lastReloadError?: string;

  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection | undefined,
    readiness: Readiness,
  ) {
    readiness.register('sinks', () => this.config.current.audit.sinks.length === 0 || this.runner !== undefined);
    reportSinksFrom(() => this.status());
  }

  status(): SinkStatus[] {
    return this.runner?.status() ?? [];
  }

  async onApplicationBootstrap(): Promise<void> {
    const sinks = this.config.current.audit.sinks;
    this.config.onChange((next, previous) => {
      if (JSON.stringify(next.audit.sinks) === JSON.stringify(previous.audit.sinks)) return;
      this.reloads = this.reloads.then(() => this.reload(next.audit.sinks));
    });
    if (sinks.length === 0) return;
    if (!this.nc) {
      this.log.warn('audit.sinks are configured but there is no NATS connection: sinks read the AUDIT stream and do not run in this mode');
      return;
    }
    this.runner = await this.startRunner(sinks);
    this.running = sinks;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await this.reloads;
    await this.runner?.stop();
    this.runner = undefined;
  }

  /** Resolves once every configuration change seen so far has been applied (or refused). */
  settled(): Promise<void> {
    return this.reloads;
  }

  private async startRunner(sinks: readonly AuditSinkConfigInput[]): Promise<SinkRunner> {
    const runner = new SinkRunner({ log: this.log });
    await runner.start(sinks, this.nc as NatsConnection);
    this.log.log(`delivering the audit stream to ${sinks.length} sink(s): ${runner.status().map((s) => `${s.name} (${s.target})`).join(', ')}`);
    return runner;
  }

  /**
   * Stops the current sinks (each hands back what it had not confirmed) and starts the new
   * list; positions live in the durables, so an unchanged sink resumes where it stopped.
   */
  private async reload(sinks: readonly AuditSinkConfigInput[]): Promise<void> {
    if (this.stopped || !this.nc) return;
    // A list that cannot start is refused before the running sinks are touched: stopping
    // them would hand back messages in flight that the next start then waits out.
    try {
      await SinkRunner.check(sinks);
    } catch (error) {
      this.lastReloadError = (error as Error).message;
      this.log.error(`kept the previous audit sinks: ${this.lastReloadError}`);
      return;
    }
    await this.runner?.stop();
    this.runner = undefined;
    if (sinks.length === 0) {
      this.running = [];
      this.lastReloadError = undefined;
      this.log.log('audit.sinks is empty: no more SIEM deliveries (the sinks keep their positions)');
      return;
    }
    try {
      this.runner = await this.startRunner(sinks);
      this.running = sinks;
      this.lastReloadError = undefined;
    } catch (error) {
      this.lastReloadError = (error as Error).message;
      this.log.error(`kept the previous audit sinks: ${this.lastReloadError}`);
      if (this.running.length > 0) this.runner = await this.startRunner(this.running).catch(() => undefined);
    }
  }
}
