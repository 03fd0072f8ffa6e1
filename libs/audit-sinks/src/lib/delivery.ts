import { readAuditMessage, storableAuditValue } from '@rungate/audit-chain';
import type { AuditEvent } from '@rungate/contracts';
import { toOcsf } from './ocsf';

/** A closed set, so status pages and alerts can branch on why a sink is failing. */
export type SinkErrorCode = 'HTTP_STATUS' | 'TIMEOUT' | 'CONNECTION' | 'TLS' | 'INTERNAL';

export class SinkDeliveryError extends Error {
  constructor(
    readonly code: SinkErrorCode,
    message: string,
    /** A receiver's Retry-After, honoured up to the retry cap. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'SinkDeliveryError';
  }
}

export function classifySocketError(error: Error, target: string): SinkDeliveryError {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const tls = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME/i.test(code) || /certificate|ssl|tls/i.test(error.message);
  return new SinkDeliveryError(tls ? 'TLS' : 'CONNECTION', `${target}: ${error.message}${code && !error.message.includes(code) ? ` (${code})` : ''}`);
}

/** One AUDIT message as a sink sees it. */
export interface StreamEvent {
  /** AUDIT stream sequence. */
  seq: number;
  event: AuditEvent;
}

export interface DeliveryBatch {
  events: readonly StreamEvent[];
  /** 1 for the first try, counting up while the receiver fails. */
  attempt: number;
}

/** One transport (webhook, syslog): confirms a batch or throws; never drops it. */
export interface SinkDelivery {
  deliver(batch: DeliveryBatch): Promise<void>;
  close(): Promise<void>;
}

export type SinkFormat = 'native' | 'ocsf';

export function formatEvent(event: AuditEvent, format: SinkFormat): unknown {
  return format === 'ocsf' ? toOcsf(event) : event;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * Reads one AUDIT message as the chain writer does (readAuditMessage). Publishers validate
 * events, so a message that is not an AuditEvent means something else wrote to the stream —
 * which a SIEM wants to see, not lose: it is forwarded as an `audit.admin.malformed_event`
 * carrying the raw text. A valid event is forwarded as published (keys a newer publisher
 * added are kept), in the audit text encoding.
 */
export function decodeStreamEvent(message: { seq: number; subject: string; data: Uint8Array; storedAt: Date }): StreamEvent {
  const text = decoder.decode(message.data);
  const read = readAuditMessage(text);
  if (read.ok) return { seq: message.seq, event: read.published as AuditEvent };
  return {
    seq: message.seq,
    event: storableAuditValue<AuditEvent>({
      v: 1,
      id: `AUDIT-${message.seq}`,
      time: message.storedAt.toISOString(),
      type: 'audit.admin.malformed_event',
      source: 'audit-sinks',
      details: { subject: message.subject, streamSequence: message.seq, problem: read.problem, data: text },
    }),
  };
}
