import { RungateError, type AuditEvent, type AuditEventInput } from '@rungate/contracts';
import { completeAuditEvent, type AuditSink } from '@rungate/messaging';
import type { DataSource } from 'typeorm';
import { AuditStore } from './audit-store';

/** How many recent event ids are remembered to drop a re-published event, as JetStream's duplicate window does. */
const RECENT_IDS = 10_000;

/**
 * The all-in-one mode's audit trail: no stream in between, each event is chained and
 * committed to the append-only table before `publish` resolves — write-ahead exactly as with
 * JetStream's ack, and one writer, so the chain's order is the order of publication.
 */
export class LocalAuditLog implements AuditSink {
  private readonly store: AuditStore;
  private tail: Promise<unknown> = Promise.resolve();
  private seq?: number;
  private readonly recent = new Set<string>();
  private readonly listeners = new Set<(event: AuditEvent) => void>();

  constructor(db: DataSource) {
    this.store = new AuditStore(db);
  }

  publish(input: AuditEventInput): Promise<AuditEvent> {
    const event = completeAuditEvent(input);
    const written = this.tail.then(() => this.append(event));
    this.tail = written.catch(() => undefined);
    return written;
  }

  /** Called with every stored event, after it is committed (e.g. to follow the trail live). */
  onEvent(listener: (event: AuditEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async append(event: AuditEvent): Promise<AuditEvent> {
    if (this.recent.has(event.id)) return event;
    try {
      this.seq ??= (await this.store.loadHead()).seq;
      const seq = this.seq + 1;
      await this.store.append([{ seq, subject: event.type, data: JSON.stringify(event) }]);
      this.seq = seq;
    } catch (error) {
      this.seq = undefined;
      throw new RungateError('AUDIT_UNAVAILABLE', `the audit log did not store ${event.type}; nothing was executed (${(error as Error).message})`);
    }
    this.recent.add(event.id);
    if (this.recent.size > RECENT_IDS) this.recent.delete(this.recent.values().next().value as string);
    for (const listener of this.listeners) listener(event);
    return event;
  }
}
