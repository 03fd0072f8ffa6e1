import { randomUUID } from 'node:crypto';
import { AUDIT_STREAM, AuditEvent, RungateError, type AuditEventInput } from '@rungate/contracts';
import type { JetStreamClient } from 'nats';
import { encodeJson } from './bus';

export interface AuditSink {
  /** Resolves once the event is durably stored; rejects with AUDIT_UNAVAILABLE otherwise. */
  publish(event: AuditEventInput): Promise<AuditEvent>;
}

export function completeAuditEvent(input: AuditEventInput): AuditEvent {
  return AuditEvent.parse({ v: 1, id: input.id ?? randomUUID(), time: input.time ?? new Date().toISOString(), ...input });
}

/**
 * Write-ahead audit: every publish waits for JetStream's ack. The event id doubles as
 * `Nats-Msg-Id`, so a publish retried after a lost ack is stored once.
 */
export class JetStreamAuditSink implements AuditSink {
  constructor(
    private readonly js: JetStreamClient,
    private readonly timeoutMs = 5000,
  ) {}

  async publish(input: AuditEventInput): Promise<AuditEvent> {
    const event = completeAuditEvent(input);
    try {
      await this.js.publish(event.type, encodeJson(event), {
        msgID: event.id,
        expect: { streamName: AUDIT_STREAM },
        timeout: this.timeoutMs,
      });
    } catch (error) {
      throw new RungateError(
        'AUDIT_UNAVAILABLE',
        `the audit stream did not acknowledge ${event.type}; nothing was executed (${(error as Error).message})`,
      );
    }
    return event;
  }
}
