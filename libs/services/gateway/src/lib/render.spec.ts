import type { ExecResult } from '@rungate/contracts';
import { describeApprovers, renderHeld, renderText, structured } from './render';

const sql: ExecResult = {
  runId: 'r1',
  status: 'succeeded',
  durationMs: 3,
  dryRun: false,
  output: {
    kind: 'sql',
    columns: [{ name: 'id', type: 'int4' }],
    rows: [{ id: 1 }],
    rowCount: 1,
    statements: [{ command: 'SELECT', rowCount: 1 }],
    truncated: false,
  },
};

describe('rendering a run for the agent', () => {
  it('summarizes SQL results and keeps rows machine-readable', () => {
    expect(renderText('demo.get', sql)).toBe('demo.get — run r1: 1 row(s); SELECT 1\n[{"id":1}]');
    expect(structured(sql)).toMatchObject({ runId: 'r1', kind: 'sql', rows: [{ id: 1 }], durationMs: 3, dryRun: false });
  });

  it('says when a dry run rolled back and when output was truncated', () => {
    const dry = { ...sql, dryRun: true, output: { ...sql.output, truncated: true } } as ExecResult;
    expect(renderText('demo.get', dry)).toMatch(/^demo\.get \(dry run, rolled back\) — run r1: 1 row\(s\) \(truncated\)/);
  });

  it('says a Kubernetes dry run was a server dry run, not a rollback', () => {
    const run: ExecResult = { ...sql, dryRun: true, output: { kind: 'process', exitCode: 0, stdout: 'deployment.apps/web configured (server dry run)\n', stderr: '', truncated: false } };
    expect(renderText('ops.k8s.web', run)).toMatch(/^ops\.k8s\.web \(server dry run, nothing changed\) — run r1: exit code 0/);
  });

  it('shows exit code, stdout and stderr of scripts', () => {
    const run: ExecResult = { ...sql, output: { kind: 'process', exitCode: 3, stdout: 'out\n', stderr: 'err\n', truncated: false } };
    expect(renderText('ops.restart', run)).toBe('ops.restart — run r1: exit code 3\nstdout:\nout\n\nstderr:\nerr\n\n');
  });

  it('clips very long text but never the structured result', () => {
    const rows = Array.from({ length: 5000 }, (_, id) => ({ id, pad: 'x'.repeat(30) }));
    const big = { ...sql, output: { ...sql.output, rows, rowCount: rows.length } } as ExecResult;
    expect(renderText('demo.get', big).length).toBeLessThan(70 * 1024);
    expect((structured(big)['rows'] as unknown[]).length).toBe(5000);
  });
});

describe('rendering a held call for the agent', () => {
  const held = { status: 'approval_required', runId: 'run-h', expiresAt: '2026-12-07T13:00:00.000Z' } as const;

  it('names the count and the groups', () => {
    const text = renderHeld('ops.db.update', { ...held, approvers: { groups: ['sre-leads'], count: 1 } });
    expect(text).toContain('It needs 1 approval from group sre-leads before 2026-12-07T13:00:00.000Z');
    expect(text).toContain('rungate approve run-h');
    expect(text).not.toContain('break-glass');
  });

  it('says one approval of each group is needed with allGroups, and never fewer than the groups', () => {
    expect(describeApprovers({ groups: ['sre-leads', 'dba'], count: 2, allGroups: true })).toBe('2 approvals from groups sre-leads, dba (at least one from each)');
    expect(describeApprovers({ groups: ['sre-leads', 'dba', 'sec'], count: 1, allGroups: true })).toBe('3 approvals from groups sre-leads, dba, sec (at least one from each)');
  });

  it('names the break-glass groups that approve alone', () => {
    const text = renderHeld('ops.db.update', { ...held, approvers: { groups: ['sre-leads', 'dba'], count: 2, allGroups: true, breakGlassGroups: ['oncall'] } });
    expect(text).toContain('It needs 2 approvals from groups sre-leads, dba (at least one from each), or one approval alone from break-glass group oncall before');
  });

  it('names the change window an approved run starts in, and when it may start once known', () => {
    const approvers = { groups: ['sre-leads'], count: 2 };
    const office = { days: ['mon' as const, 'tue' as const, 'wed' as const, 'thu' as const, 'fri' as const], from: '09:00', to: '17:00', timeZone: 'Europe/Berlin' };
    expect(renderHeld('demo.set', { ...held, approvers, windows: [office] })).toContain('Once approved it starts only inside its change window: mon, tue, wed, thu, fri 09:00–17:00 Europe/Berlin.\n');
    const night = { days: ['sun' as const, 'mon' as const, 'tue' as const, 'wed' as const, 'thu' as const, 'fri' as const, 'sat' as const], from: '22:00', to: '02:00', timeZone: 'UTC' };
    expect(renderHeld('demo.set', { ...held, approvers, state: 'approved', windows: [office, night], startsAt: '2026-12-08T08:00:00.000Z' })).toContain(
      'change windows (all open at once): mon, tue, wed, thu, fri 09:00–17:00 Europe/Berlin; every day 22:00–02:00 UTC; it may start at 2026-12-08T08:00:00.000Z.',
    );
    expect(renderHeld('demo.set', { ...held, approvers })).not.toContain('window');
  });
});
