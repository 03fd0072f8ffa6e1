import { AUDIT_STREAM, InternalError } from '@rungate/contracts';
import { AckPolicy, DeliverPolicy, ReplayPolicy, nanos, type ConsumerConfig, type ConsumerInfo, type JetStreamManager } from 'nats';
import { sinkAckWaitMs, sinkDurableName, sinkMaxAckPending, type AuditSinkConfig, type SinkStart } from './config';

function startPolicy(start: SinkStart): Pick<ConsumerConfig, 'deliver_policy' | 'opt_start_seq' | 'opt_start_time'> {
  if (start === 'all') return { deliver_policy: DeliverPolicy.All };
  if (start === 'new') return { deliver_policy: DeliverPolicy.New };
  if ('sequence' in start) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start.sequence };
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(start.time).toISOString() };
}

/**
 * The durable pull consumer behind one sink. `max_ack_pending` is one delivery's worth, so
 * nothing newer is handed out while a message is unacked — by this runner, a restarted one
 * or a second replica — which keeps deliveries in stream order. `max_deliver: -1`: a sink
 * retries forever and never skips.
 */
export function sinkConsumerConfig(sink: AuditSinkConfig, start: SinkStart = sink.start): Partial<ConsumerConfig> {
  return {
    durable_name: sinkDurableName(sink.name),
    description: `Rungate ${sink.type} audit sink "${sink.name}"`,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(sinkAckWaitMs(sink)),
    max_ack_pending: sinkMaxAckPending(sink),
    max_deliver: -1,
    filter_subject: sink.subject,
    replay_policy: ReplayPolicy.Instant,
    ...startPolicy(start),
  };
}

export function isJetStreamNotFound(error: unknown): boolean {
  return (error as { code?: string }).code === '404';
}

/**
 * Creates the sink's durable, or keeps the existing one (its position is the point of a
 * durable) and brings the settings that may change — ack wait, max ack pending, filter —
 * up to date. A consumer of the same name that is not an explicit-ack pull consumer is an
 * error rather than something to repurpose.
 */
export async function ensureSinkConsumer(jsm: JetStreamManager, sink: AuditSinkConfig, start?: SinkStart): Promise<ConsumerInfo> {
  const wanted = sinkConsumerConfig(sink, start);
  const durable = sinkDurableName(sink.name);
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.info(AUDIT_STREAM, durable);
  } catch (error) {
    if (!isJetStreamNotFound(error)) throw error;
    return jsm.consumers.add(AUDIT_STREAM, wanted);
  }
  const existing = info.config;
  if (existing.ack_policy !== AckPolicy.Explicit || existing.deliver_subject) {
    throw new InternalError(
      `consumer ${durable} on ${AUDIT_STREAM} exists but is not an explicit-ack pull consumer; delete it (nats consumer rm ${AUDIT_STREAM} ${durable}) or rename the sink`,
    );
  }
  const changes: Partial<ConsumerConfig> = {};
  if (existing.ack_wait !== wanted.ack_wait) changes.ack_wait = wanted.ack_wait;
  if (existing.max_ack_pending !== wanted.max_ack_pending) changes.max_ack_pending = wanted.max_ack_pending;
  if ((existing.filter_subject ?? '') !== wanted.filter_subject) changes.filter_subject = wanted.filter_subject;
  if (existing.max_deliver !== -1) changes.max_deliver = -1;
  if (Object.keys(changes).length === 0) return info;
  return jsm.consumers.update(AUDIT_STREAM, durable, changes);
}
