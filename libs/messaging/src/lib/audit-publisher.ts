import { randomUUID } from 'node:crypto';
import { withAuditStrings } from '@rungate/audit-chain';
import { AUDIT_STREAM, AuditEvent, RungateError, type AuditEventInput } from '@rungate/contracts';
import { headers as natsHeaders, type NatsConnection } from 'nats';
import { decodeJson, encodeJson, requestOnSharedInbox } from './bus';

export interface AuditSink {
  /** Resolves once the event is durably stored; rejects with AUDIT_UNAVAILABLE otherwise. */
  publish(event: AuditEventInput, options?: PublishOptions): Promise<AuditEvent>;
}

export interface PublishOptions {
  /**
   * The event records what already happened and nothing waits on it before answering (a run's
   * outcome, published after its reply): a sink may hold it briefly to store it with what
   * comes next. It is stored all the same, in the order it was published (LocalAuditLog).
   */
  trailing?: boolean;
}

/**
 * The event as it enters the audit trail: validated, and every string in the audit text
 * encoding (docs/siem.md), so the stream, the chain, the table and every sink hold the same
 * bytes whatever text a caller sent. The parse (a fresh object, unknown keys dropped) is kept:
 * it is about 2 µs. Encoding copies the event only when some string needs it (the copy cost
 * 6 µs an event): `details`' nested values may then be the caller's own objects, which no
 * caller changes after publishing.
 */
export function completeAuditEvent(input: AuditEventInput): AuditEvent {
  return withAuditStrings(AuditEvent.parse({ v: 1, id: input.id ?? randomUUID(), time: input.time ?? new Date().toISOString(), ...input }));
}

/** JetStream's answer to a publish: stored (possibly before, under the same Nats-Msg-Id), or why not. */
interface PubAck {
  stream?: unknown;
  seq?: unknown;
  duplicate?: unknown;
  error?: { code?: unknown; err_code?: unknown; description?: unknown };
}

/**
 * Write-ahead audit: every publish waits for JetStream's ack. The event id doubles as
 * `Nats-Msg-Id`, so a publish retried after a lost ack is stored once (the ack then says
 * `duplicate`: stored all the same). The publish is a plain request on the connection's
 * shared reply inbox with the headers nats.js's `js.publish` sends (the message id and the
 * expected stream), not `js.publish` itself, whose request machinery builds an error object
 * with a stack trace for every publish it resolves (bench/README.md). No ack in time, an ack
 * that is an error or not JetStream's, nobody listening on the subject (503) or a closed
 * connection: AUDIT_UNAVAILABLE, and the caller runs nothing.
 */
export class JetStreamAuditSink implements AuditSink {
  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5000,
  ) {}

  async publish(input: AuditEventInput): Promise<AuditEvent> {
    const event = completeAuditEvent(input);
    const headers = natsHeaders();
    headers.set(MSG_ID_HEADER, event.id);
    headers.set(EXPECTED_STREAM_HEADER, AUDIT_STREAM);
    let problem: string | undefined;
    try {
      const reply = await requestOnSharedInbox(this.nc, { subject: event.type, name: event.type, data: encodeJson(event), headers, timeoutMs: this.timeoutMs });
      problem = pubAckProblem(reply.data);
    } catch (error) {
      problem = (error as Error).message;
    }
    if (problem !== undefined) {
      throw new RungateError('AUDIT_UNAVAILABLE', `the audit stream did not acknowledge ${event.type}; nothing was executed (${problem})`);
    }
    return event;
  }
}

const MSG_ID_HEADER = 'Nats-Msg-Id';
const EXPECTED_STREAM_HEADER = 'Nats-Expected-Stream';

/** Undefined when `data` is JetStream's ack of a message stored in `stream` (`{stream, seq[, duplicate]}`); else what is wrong with it. */
export function pubAckProblem(data: Uint8Array, stream = AUDIT_STREAM): string | undefined {
  let ack: PubAck;
  try {
    ack = decodeJson(data) as PubAck;
  } catch {
    return 'the answer is not JSON';
  }
  if (ack === null || typeof ack !== 'object') return 'the answer is not a JetStream ack';
  if (ack.error) return `JetStream error ${String(ack.error.err_code ?? ack.error.code)}: ${String(ack.error.description ?? 'no description')}`;
  if (ack.stream !== stream || typeof ack.seq !== 'number') return `the answer is not a JetStream ack of the ${stream} stream`;
  return undefined;
}
