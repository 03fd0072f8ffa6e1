import type { ExecResult } from '@rungate/contracts';
import { renderText, structured } from './render';

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
