import { randomBytes, randomUUID } from 'node:crypto';
import { AUDIT_STREAM, type AuditEvent, type AuditEventInput } from '@rungate/contracts';
import { JetStreamAuditSink, connectNats, ensureAuditStream } from '@rungate/messaging';
import type { JetStreamManager, NatsConnection } from 'nats';
import type { SinkLog } from '../lib/sink-runner';
import { sinkDurableName } from '../lib/config';

/**
 * The AUDIT stream is shared by every test on the machine and cannot be purged: each test
 * starts its sinks after the stream's current last sequence, uses fresh sink names (so
 * fresh durables) and looks only at events carrying its own run id.
 */
export class AuditHarness {
  nc!: NatsConnection;
  jsm!: JetStreamManager;
  publisher!: JetStreamAuditSink;
  private readonly durables: string[] = [];

  async open(): Promise<void> {
    this.nc = await connectNats({ name: 'audit-sinks-test' });
    this.jsm = await this.nc.jetstreamManager();
    await ensureAuditStream(this.jsm);
    this.publisher = new JetStreamAuditSink(this.nc);
  }

  async close(): Promise<void> {
    await this.removeDurables();
    await this.nc.close();
  }

  /** A sink name no other test uses; its durable is removed after the test. */
  sinkName(label: string): string {
    const name = `t-${label}-${randomBytes(4).toString('hex')}`;
    this.durables.push(sinkDurableName(name));
    return name;
  }

  async removeDurables(): Promise<void> {
    for (const durable of this.durables.splice(0)) await this.jsm.consumers.delete(AUDIT_STREAM, durable).catch(() => false);
  }

  /** The first sequence a new publish will get: where a test's sinks start. */
  async nextSequence(): Promise<number> {
    const info = await this.jsm.streams.info(AUDIT_STREAM);
    return info.state.last_seq + 1;
  }

  /** Publishes a run's events in order, the way services do, and returns them as stored. */
  async publishRun(runId: string, count: number, overrides: Partial<AuditEventInput> = {}): Promise<AuditEvent[]> {
    const types = ['audit.run.received', 'audit.run.decided', 'audit.run.started', 'audit.run.completed'] as const;
    const events: AuditEvent[] = [];
    for (let i = 0; i < count; i++) {
      events.push(
        await this.publisher.publish({
          type: types[i % types.length] as string,
          source: 'audit-sinks-test',
          runId,
          actor: { user: 'alice', groups: ['sre'], agent: 'claude-code' },
          tool: 'postgres.orders',
          details: { index: i },
          ...overrides,
        }),
      );
    }
    return events;
  }
}

export function newRunId(): string {
  return `run-${randomUUID()}`;
}

export class RecordingLog implements SinkLog {
  readonly lines: { level: 'log' | 'warn' | 'error'; message: string }[] = [];
  log(message: string): void {
    this.lines.push({ level: 'log', message });
  }
  warn(message: string): void {
    this.lines.push({ level: 'warn', message });
  }
  error(message: string): void {
    this.lines.push({ level: 'error', message });
  }
}

/** Fast retries for tests; production defaults are 1s doubling up to 1m. */
export const FAST_RETRY = { initialDelay: 50, maxDelay: 300, alertAfter: 3 };
