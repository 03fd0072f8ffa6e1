import type { AuditEvent } from '@rungate/contracts';

/** A completed run with every field set, as the executor pipeline writes it. */
export function completedRunEvent(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    v: 1,
    id: '0d6f0f4e-6a43-4c59-9d0e-3f4a3c1b2a10',
    time: '2025-03-04T05:06:07.890Z',
    type: 'audit.run.completed',
    source: 'executor-postgres',
    runId: 'run-42',
    actor: {
      user: 'alice',
      groups: ['sre', 'oncall'],
      agent: 'claude-code',
      tokenId: 'tok-7',
      ip: '10.0.0.5',
      userAgent: 'mcp-client/1.2',
    },
    runbook: { repository: 'ops-runbooks', path: 'postgres/orders.yaml', commit: 'a1b2c3d', sha256: 'f'.repeat(64) },
    tool: 'postgres.orders_by_customer',
    connection: { name: 'orders-db', type: 'postgres' },
    params: { customer: '42', token: '[redacted]' },
    outcome: { status: 'succeeded', exitCode: null, durationMs: 12.5, rows: 3, bytes: 120, truncated: false, outputSha256: 'e'.repeat(64) },
    ...overrides,
  };
}
