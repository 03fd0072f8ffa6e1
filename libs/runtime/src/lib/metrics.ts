import { Controller, Get, Header } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process; the all-in-one mode shares it across its services. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'rungate_process_' });

const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export const Metrics = {
  toolCalls: new Counter({
    name: 'rungate_tool_calls_total',
    help: 'MCP tools/call requests by outcome: ok, failed (the run failed), cancelled, or the error code in lower case (forbidden, unknown_tool, timeout…)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
  toolCallSeconds: new Histogram({
    name: 'rungate_tool_call_duration_seconds',
    help: 'Gateway time for one tools/call, authorize to result',
    buckets: latencyBuckets,
    registers: [registry],
  }),
  decisions: new Counter({
    name: 'rungate_policy_decisions_total',
    help: 'Policy decisions by effect',
    labelNames: ['effect'] as const,
    registers: [registry],
  }),
  runs: new Counter({
    name: 'rungate_runs_total',
    help: 'Executed runs by connection type and status',
    labelNames: ['type', 'status'] as const,
    registers: [registry],
  }),
  runSeconds: new Histogram({
    name: 'rungate_run_duration_seconds',
    help: 'Executor time for one run',
    labelNames: ['type'] as const,
    buckets: latencyBuckets,
    registers: [registry],
  }),
  attempts: new Counter({
    name: 'rungate_attempts_denied_total',
    help: 'Attempts that ran nothing, by code and whether they were recorded one by one or only counted (audit.attemptLimit)',
    labelNames: ['service', 'code', 'audit'] as const,
    registers: [registry],
  }),
  auditLag: new Gauge({
    name: 'rungate_audit_lag_events',
    help: 'Events on the AUDIT stream not yet chained into the audit table',
    registers: [registry],
  }),
};

@Controller()
export class MetricsController {
  @Get('metrics')
  @Header('Content-Type', registry.contentType)
  metrics(): Promise<string> {
    return registry.metrics();
  }
}
