import type { ApprovalRunRecord } from '@rungate/persistence';
import { POLL_PENDING_MS, POLL_WORKING_MS, taskOfRun } from './run-tasks';

function run(state: ApprovalRunRecord['state'], more: Partial<ApprovalRunRecord> = {}): ApprovalRunRecord {
  return {
    runId: 'run-1',
    state,
    requester: { identity: { user: 'alice', groups: ['eng'], agent: 'claude-code' }, meta: {} },
    tool: 'demo.pg.update',
    runbook: { repository: 'demo', path: 'pg/update.runbook.sql', commit: 'c'.repeat(40), sha256: 'd'.repeat(64) },
    connection: { name: 'prod-db', type: 'postgres' },
    rule: 'prod-writes',
    body: 'UPDATE t SET x = 1;',
    bodySha256: 'e'.repeat(64),
    params: {},
    env: {},
    execution: { limits: { timeoutMs: 10_000, maxRows: 1000, maxBytes: 1 << 20 }, readOnly: false },
    approval: { groups: ['leads'], count: 2, ttlMs: 3_600_000, holds: [{ by: 'rule', name: 'prod-writes' }] },
    decisions: [],
    createdAt: '2026-12-07T10:00:00.000Z',
    updatedAt: '2026-12-07T10:05:00.000Z',
    expiresAt: '2026-12-07T11:00:00.000Z',
    ...more,
  };
}

describe('a held run as its MCP task (ADR 18 §8)', () => {
  it('is input_required while pending, saying who must approve and how', () => {
    const task = taskOfRun(run('pending', { decisions: [{ actor: { user: 'lee' }, verdict: 'approved', at: '2026-12-07T10:05:00.000Z' }] }));
    expect(task).toMatchObject({ taskId: 'run-1', status: 'input_required', createdAt: '2026-12-07T10:00:00.000Z', lastUpdatedAt: '2026-12-07T10:05:00.000Z', ttl: null, pollInterval: POLL_PENDING_MS });
    expect(task.statusMessage).toContain('needs 2 approvals (1 so far) from group leads before 2026-12-07T11:00:00.000Z');
    expect(task.statusMessage).toContain('rungate approve run-1');
  });

  it('is working once approved, and ends completed, failed or cancelled as the run did', () => {
    expect(taskOfRun(run('approved'))).toMatchObject({ status: 'working', pollInterval: POLL_WORKING_MS });
    expect(taskOfRun(run('executing'))).toMatchObject({ status: 'working' });
    expect(taskOfRun(run('executed', { outcome: { status: 'succeeded', result: {} } }))).toMatchObject({ status: 'completed' });
    expect(taskOfRun(run('executed', { outcome: { status: 'failed', result: {} } }))).toMatchObject({ status: 'failed' });
    expect(taskOfRun(run('failed', { outcome: { status: 'failed', errorCode: 'FORBIDDEN', error: 'connection prod-db was removed after approval' } }))).toMatchObject({
      status: 'failed',
      statusMessage: 'FORBIDDEN: connection prod-db was removed after approval',
    });
    const rejected = taskOfRun(run('rejected', { decisions: [{ actor: { user: 'lee' }, verdict: 'rejected', comment: 'not in the freeze', at: '2026-12-07T10:05:00.000Z' }] }));
    expect(rejected).toMatchObject({ status: 'failed', statusMessage: expect.stringContaining('not in the freeze') });
    expect(taskOfRun(run('expired'))).toMatchObject({ status: 'failed', statusMessage: expect.stringContaining('expired at 2026-12-07T11:00:00.000Z with 0 of 2 approvals') });
    expect(taskOfRun(run('withdrawn'))).toMatchObject({ status: 'cancelled' });
    for (const state of ['executed', 'failed', 'rejected', 'expired', 'withdrawn'] as const) expect(taskOfRun(run(state)).pollInterval).toBeUndefined();
  });
});
