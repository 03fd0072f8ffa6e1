import { randomUUID } from 'node:crypto';
import { encodeAuditStrings } from '@rungate/audit-chain';
import { AUDIT_STREAM, AuditEvent, RungateError, type AuditEventInput } from '@rungate/contracts';
import type { JetStreamClient } from 'nats';
import { encodeJson } from './bus';

export interface AuditSink {
  /** Resolves once the event is durably stored; rejects with AUDIT_UNAVAILABLE otherwise. */
  publish(event: AuditEventInput): Promise<AuditEvent>;
}

/**
 * The event as it enters the audit trail: validated, and every string in the audit text
 * encoding (docs/siem.md), so the stream, the chain, the table and every sink hold the same
 * bytes whatever text a caller sent.
 */
export function completeAuditEvent(input: AuditEventInput): AuditEvent {
  return encodeAuditStrings(AuditEvent.parse({ v: 1, id: input.id ?? randomUUID(), time: input.time ?? new Date().toISOString(), ...input }));
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
