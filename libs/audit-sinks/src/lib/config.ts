import { type AuditSinkConfig, type SyslogSinkConfig } from '@rungate/config';

// The schema lives in @rungate/config so rungate.yaml is validated as a whole at start-up.
export {
  AuditSinkConfig,
  AuditSinkConfigs,
  SinkName,
  SinkRetry,
  SinkStart,
  SyslogSinkConfig,
  WebhookSinkConfig,
  type AuditSinkConfigInput,
} from '@rungate/config';

export function sinkDurableName(sinkName: string): string {
  return `rungate-sink-${sinkName}`;
}

/**
 * How long JetStream waits for an ack before handing a message out again. The runner sends
 * "working" every third of it while it retries, so this only bounds how soon a restarted
 * runner picks up the message a crashed one held; it must outlast one delivery attempt.
 */
export function sinkAckWaitMs(sink: Pick<AuditSinkConfig, 'timeout'>): number {
  return Math.max(10_000, 2 * sink.timeout);
}

/** One message (or one batch) in flight at a time keeps stream order, across restarts too. */
export function sinkMaxAckPending(sink: Pick<AuditSinkConfig, 'batch'>): number {
  return sink.batch?.maxEvents ?? 1;
}

/** Where a sink delivers, for logs and status: no secrets, no query string. */
export function sinkTarget(sink: AuditSinkConfig): string {
  if (sink.type === 'webhook') {
    const url = new URL(sink.url);
    return `${url.origin}${url.pathname}`;
  }
  return `${sink.tls ? 'syslog+tls' : 'syslog'}://${sink.host}:${syslogPort(sink)}`;
}

export function syslogPort(sink: Pick<SyslogSinkConfig, 'port' | 'tls'>): number {
  return sink.port ?? (sink.tls ? 6514 : 601);
}
