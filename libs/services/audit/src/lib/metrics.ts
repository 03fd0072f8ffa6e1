import type { SinkStatus } from '@rungate/audit-sinks';
import { registry } from '@rungate/runtime';
import { Counter, Gauge } from 'prom-client';

/** What the sink gauges read at scrape time; the audit service's SinkHost sets it. */
let sinkStatuses: () => SinkStatus[] = () => [];

export function reportSinksFrom(source: () => SinkStatus[]): void {
  sinkStatuses = source;
}

/**
 * The audit service's metrics, in the process registry beside the shared ones (the writer's
 * lag is `rungate_audit_lag_events` in @rungate/runtime). Sink gauges are read from the
 * runners at scrape time, so a sink removed by a reload disappears from the output.
 */
export const AuditMetrics = {
  written: new Counter({
    name: 'rungate_audit_events_written_total',
    help: 'Events the chain writer appended to the audit table',
    registers: [registry],
  }),
  headSeq: new Gauge({
    name: 'rungate_audit_chain_head_seq',
    help: 'AUDIT stream sequence of the last event in the audit table',
    registers: [registry],
  }),
  writer: new Gauge({
    name: 'rungate_audit_chain_writer',
    help: '1 while this replica holds the writer lease, 0 while it stands by',
    registers: [registry],
  }),
  sinkLag: new Gauge({
    name: 'rungate_audit_sink_lag_events',
    help: 'Events on AUDIT a SIEM sink has not yet confirmed',
    labelNames: ['sink', 'type'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const sink of sinkStatuses()) if (sink.lag !== null) this.set({ sink: sink.name, type: sink.type }, sink.lag);
    },
  }),
  sinkFailures: new Gauge({
    name: 'rungate_audit_sink_consecutive_failures',
    help: 'Failed delivery attempts in a row per sink; 0 when it delivers',
    labelNames: ['sink', 'type'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const sink of sinkStatuses()) this.set({ sink: sink.name, type: sink.type }, sink.consecutiveFailures);
    },
  }),
  sinkDelivered: new Gauge({
    name: 'rungate_audit_sink_delivered_events',
    help: 'Events a sink confirmed since its runner (re)started',
    labelNames: ['sink', 'type'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const sink of sinkStatuses()) this.set({ sink: sink.name, type: sink.type }, sink.delivered);
    },
  }),
};
