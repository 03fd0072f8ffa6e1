import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionConfig } from '@rungate/config';
import type { RunTicketClaims } from '@rungate/contracts';
import type { ConnectionOf, PipelineLog } from '@rungate/executors';
import { eventually, testClaims } from '@rungate/testing';
import { isRunning } from '../testing/processes';
import { ShellAdapter, type PreparedShellRun } from './shell.adapter';

const quiet: PipelineLog = { log: () => undefined, warn: () => undefined, error: () => undefined };

function claims(overrides: Partial<RunTicketClaims> = {}): RunTicketClaims {
  return testClaims('', { path: 'shell/test.runbook.sh', connection: { name: 'ops-box', type: 'shell' }, groups: ['engineering'], rule: 'engineering-shell' }, overrides);
}

function connection(input: Record<string, unknown> = {}): ConnectionOf<'shell'> {
  return ConnectionConfig.parse({ name: 'ops-box', type: 'shell', ...input }) as ConnectionOf<'shell'>;
}

describe('ShellAdapter', () => {
  let base: string;
  let adapter: ShellAdapter;
  const secret = `secret-${randomBytes(8).toString('hex')}`;
  const secretRef = `RG_SHELL_UNIT_${randomBytes(4).toString('hex').toUpperCase()}`;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'rg-shell-adapter-'));
    adapter = new ShellAdapter(quiet, { workdirBase: base, killGraceMs: 500, env: { [secretRef]: secret } });
  });
  afterAll(async () => {
    await adapter.close();
    rmSync(base, { recursive: true, force: true });
  });
  afterEach(() => expect(readdirSync(base)).toEqual([]));

  const run = (body: string, overrides: Partial<RunTicketClaims> = {}, target = connection(), signal = new AbortController().signal) =>
    adapter.run(adapter.prepare(claims(overrides), body, target), signal);

  it('returns a non-zero exit as a completed run with its exit code and output', async () => {
    await expect(run('echo partial; echo "no such thing" >&2; exit 4')).resolves.toEqual({ kind: 'process', exitCode: 4, stdout: 'partial\n', stderr: 'no such thing\n', truncated: false });
  });

  it('runs through the connection\'s shell', async () => {
    const output = await run('echo "$BASH_VERSION" | cut -c1', {}, connection({ shell: '/bin/bash' }));
    expect(output.stdout).toMatch(/^\d\n$/);
  });

  it('caps output at the smaller of the ticket\'s and the connection\'s maxBytes', async () => {
    const body = 'head -c 5000 /dev/zero | tr "\\0" y';
    const byTicket = await run(body, { limits: { timeoutMs: 10_000, maxRows: 1, maxBytes: 100 } });
    expect(byTicket).toMatchObject({ stdout: 'y'.repeat(100), truncated: true, exitCode: 0 });
    const byConnection = await run(body, {}, connection({ maxBytes: 300 }));
    expect(byConnection).toMatchObject({ stdout: 'y'.repeat(300), truncated: true });
  });

  it('gives the script its connection secrets but never returns them', async () => {
    const target = connection({ env: { API_TOKEN: `env:${secretRef}` } });
    const output = await run('echo "token=$API_TOKEN"; printf %s "$API_TOKEN" | wc -c; env >&2', {}, target);
    expect(output.stdout).toBe(`token=[REDACTED]\n${secret.length}\n`);
    expect(output.stderr).toContain('API_TOKEN=[REDACTED]');
    expect(JSON.stringify(output)).not.toContain(secret);
  });

  it('refuses a dry run before anything is prepared, whatever the body', () => {
    expect(() => adapter.prepare(claims({ dryRun: true }), 'touch /tmp/should-not-exist', connection())).toThrow(
      expect.objectContaining({ code: 'INVALID_PARAMS', message: expect.stringMatching(/^dryRun: connection ops-box is a shell, which cannot preview or roll back.*Nothing was executed\.$/) }),
    );
  });

  it('refuses a connection whose shell is not an executable file', () => {
    for (const shell of ['/no/such/shell', '/etc/passwd', '/tmp']) {
      expect(() => adapter.prepare(claims(), 'echo hi', connection({ shell }))).toThrow(expect.objectContaining({ code: 'TARGET_UNAVAILABLE', message: expect.stringContaining(`the shell ${shell} is not an executable file`) }));
    }
  });

  it('refuses an asenv parameter that would replace a connection variable', () => {
    const target = connection({ env: { API_TOKEN: `env:${secretRef}` } });
    expect(() => adapter.prepare(claims({ env: { API_TOKEN: 'mine' } }), 'echo', target)).toThrow(expect.objectContaining({ code: 'INVALID_PARAMS' }));
  });

  it('stops the whole process group when its signal aborts, withholds the output and removes its directory', async () => {
    const pidFile = join(base, '..', `${randomUUID()}.pids`);
    const abort = new AbortController();
    const running = run(`sleep 300 & echo "$! $$" > ${pidFile}; echo working; sleep 300`, {}, connection(), abort.signal);
    const pids = await eventually(async () => {
      const text = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : '';
      if (!/^\d+ \d+$/.test(text)) throw new Error('not started yet');
      return text.split(' ').map(Number);
    }, 10_000, 20);
    abort.abort('timeout');
    await expect(running).rejects.toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringContaining('process group was stopped') });
    await eventually(async () => expect(pids.filter(isRunning)).toEqual([]), 5000, 20);
    rmSync(pidFile);
  });

  it('reports a run directory it cannot create without starting anything', async () => {
    const broken = new ShellAdapter(quiet, { workdirBase: join(base, 'missing', 'base') });
    const prepared = broken.prepare(claims(), 'echo never', connection());
    await expect(broken.run(prepared, new AbortController().signal)).rejects.toMatchObject({ code: 'TARGET_UNAVAILABLE', message: 'cannot create a run directory on this executor host (ENOENT); nothing was executed' });
    expect(prepared.process).toBeUndefined();
    await broken.close();
  });

  it('does not start a run cancelled before it began', async () => {
    const prepared = adapter.prepare(claims(), 'echo never', connection());
    await adapter.cancel(prepared);
    await expect(adapter.run(prepared, new AbortController().signal)).rejects.toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringContaining('before it started') });
  });

  it('stops the process groups of runs still going when it closes', async () => {
    const closing = new ShellAdapter(quiet, { workdirBase: base, killGraceMs: 500 });
    const prepared: PreparedShellRun = closing.prepare(claims(), 'sleep 300 & sleep 300', connection());
    const running = closing.run(prepared, new AbortController().signal);
    await eventually(async () => expect(prepared.process?.pid).toBeDefined(), 5000, 20);
    const pid = prepared.process?.pid as number;
    await closing.close();
    await expect(running).resolves.toMatchObject({ exitCode: 128 + 15 });
    await eventually(async () => expect(isRunning(pid)).toBe(false), 5000, 20);
  });
});
