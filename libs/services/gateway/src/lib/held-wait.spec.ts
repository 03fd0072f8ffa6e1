import type { ApprovalRun } from '@rungate/contracts';
import { ProgressCounter, endedAnswer, progressMessage, progressOf, quorumSize } from './held-wait';

const run = (over: Partial<ApprovalRun>): ApprovalRun => ({
  runId: 'run-w',
  state: 'pending',
  tool: 'ops.db.update',
  rule: 'prod-writes',
  runbook: { repository: 'ops', path: 'db/update.runbook.sql', commit: 'c', sha256: 's' },
  connection: { name: 'app-db', type: 'postgres' },
  body: 'UPDATE t SET x = 1',
  bodySha256: 'b',
  params: {},
  requester: { user: 'alice@example.com' },
  approval: { groups: ['sre-leads'], count: 2, approved: 0 },
  holds: [{ by: 'rule', name: 'prod-writes' }],
  decisions: [],
  createdAt: '2026-12-07T12:00:00.000Z',
  expiresAt: '2026-12-07T13:00:00.000Z',
  ...over,
});
const approval = (user: string) => ({ actor: { user }, verdict: 'approved' as const, at: '2026-12-07T12:01:00.000Z' });

describe('progress of a held call its client waits on', () => {
  it('counts approvals as whole steps and keepalives as fractions below the next one, always increasing, never past total', () => {
    const counter = new ProgressCounter(2);
    const sent = [counter.next(0), counter.next(0), counter.next(0), counter.next(1), counter.next(1), counter.next(2)];
    expect(sent).toEqual([0, 0.5, 2 / 3, 1, 1.5, 2]);
    // Nothing can be added past total: no notification rather than one that does not increase.
    expect(counter.next(2)).toBeUndefined();
    expect(counter.next(3)).toBeUndefined();
  });

  it('takes the whole quorum once the run is approved (break glass completes it alone), one short of it while pending', () => {
    expect(progressOf(run({ decisions: [approval('lee')] }), 2)).toBe(1);
    expect(progressOf(run({ state: 'executing', decisions: [approval('olga')] }), 2)).toBe(2);
    // allGroups: two approvals of one group leave the run pending.
    expect(progressOf(run({ decisions: [approval('lee'), approval('kim')] }), 2)).toBe(1);
    expect(quorumSize({ groups: ['a', 'b', 'c'], count: 2, allGroups: true })).toBe(3);
  });

  it('says who must still approve, and then that the run runs', () => {
    const approvers = { groups: ['sre-leads'], count: 2, breakGlassGroups: ['oncall'] };
    expect(progressMessage('ops.db.update', 'run-w', approvers, run({ decisions: [approval('lee')] }))).toBe(
      'ops.db.update — run run-w waits for approval (1 of 2 so far): it needs 2 approvals from group sre-leads, or one approval alone from break-glass group oncall; nothing has run yet. An approver approves it with: rungate approve run-w',
    );
    expect(progressMessage('ops.db.update', 'run-w', approvers, run({ state: 'executing' }))).toBe('ops.db.update — run run-w is approved and running');
  });
});

describe('how a run that ended answers the call that waited on it', () => {
  it('answers an executed run as the executor reported it', () => {
    const result = { runId: 'run-w', durationMs: 4, dryRun: false, kind: 'sql', columns: [], rows: [{ id: 1 }], rowCount: 1, statements: [{ command: 'UPDATE', rowCount: 1 }], truncated: false };
    expect(endedAnswer(run({ state: 'executed', outcome: { status: 'succeeded', result } }))).toEqual({
      report: { runId: 'run-w', status: 'succeeded', durationMs: 4, dryRun: false, output: { kind: 'sql', columns: [], rows: [{ id: 1 }], rowCount: 1, statements: [{ command: 'UPDATE', rowCount: 1 }], truncated: false } },
    });
    // A stored result that is no report is not made up: the call answers approval_required with the state.
    expect(endedAnswer(run({ state: 'executed', outcome: { status: 'succeeded', result: { odd: true } } }))).toBeUndefined();
  });

  it('answers a failed run with its code, and a rejected or expired one RUN_NOT_APPROVED', () => {
    const failed = endedAnswer(run({ state: 'failed', outcome: { status: 'failed', errorCode: 'FORBIDDEN', error: 'rule prod-writes was removed after approval; nothing was executed' } }));
    expect(failed && 'error' in failed ? [failed.error.code, failed.error.message] : failed).toEqual(['FORBIDDEN', 'rule prod-writes was removed after approval; nothing was executed']);
    const rejected = endedAnswer(run({ state: 'rejected', decisions: [{ actor: { user: 'kim' }, verdict: 'rejected', comment: 'freeze', at: 'x' }] }));
    expect(rejected && 'error' in rejected ? [rejected.error.code, rejected.error.message] : rejected).toEqual(['RUN_NOT_APPROVED', 'run run-w was rejected: freeze; nothing was executed']);
    const expired = endedAnswer(run({ state: 'expired', decisions: [approval('lee')] }));
    expect(expired && 'error' in expired ? expired.error.message : expired).toBe('run run-w expired at 2026-12-07T13:00:00.000Z before it was approved (1 of 2 approvals); nothing was executed');
    expect(endedAnswer(run({ state: 'executing' }))).toBeUndefined();
  });
});
