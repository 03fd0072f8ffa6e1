import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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

  describe('open, then run or abandon (ADR 9)', () => {
    const marker = () => join(base, '..', `marker-${randomUUID()}`);
    const hostile = {
      SUBSTITUTION: '$(touch /tmp/rg-never) `touch /tmp/rg-never`',
      QUOTES: `'; echo "x"; echo '`,
      NEWLINES: 'first\nsecond\r\n\tlast\n',
      BACKSLASHES: '\\\\ \\n \\',
      EMPTY: '',
      UNICODE: 'héllo ☃ 𝄞',
    };

    it('opens a shell waiting on stdin and a private directory, and sends nothing of the runbook', async () => {
      const touched = marker();
      const prepared = adapter.prepare(claims({ env: { MARKER: touched } }), `touch "$MARKER"`, connection());
      await adapter.open(prepared, new AbortController().signal);
      const pid = prepared.process?.pid as number;
      expect(isRunning(pid)).toBe(true);
      expect(readdirSync(base)).toHaveLength(1);
      // The shell's environment holds no parameter: they are sent with the body.
      expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).not.toContain(`MARKER=${touched}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(existsSync(touched)).toBe(false);
      await adapter.abandon(prepared);
    });

    it.each([
      ['without', {}],
      ['with', { env: { MARKER: 'set' } }],
    ])('abandons an opened run %s parameters: nothing runs, the shell has exited and its directory is gone', async (_, overrides) => {
      const touched = marker();
      const prepared = adapter.prepare(claims(overrides), `touch ${touched}`, connection());
      await adapter.open(prepared, new AbortController().signal);
      const pid = prepared.process?.pid as number;
      await adapter.abandon(prepared);
      expect(isRunning(pid)).toBe(false);
      await expect(prepared.process?.finished).resolves.toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
      expect(readdirSync(base)).toEqual([]);
      expect(existsSync(touched)).toBe(false);
      await adapter.abandon(prepared);
    });

    it('runs the body in the shell and directory open set up', async () => {
      const prepared = adapter.prepare(claims(), 'echo "$$"; pwd', connection());
      await adapter.open(prepared, new AbortController().signal);
      const pid = prepared.process?.pid;
      const workdir = prepared.workdir;
      const output = await adapter.run(prepared, new AbortController().signal);
      expect(output.stdout).toBe(`${pid}\n${workdir}\n`);
    });

    it.each(['/bin/sh', '/bin/bash'])('passes hostile asenv values byte for byte through %s, and none of them runs', async (shell) => {
      const names = Object.keys(hostile);
      const body = names.map((name) => `printf '%s=' ${name}; printf '%s' "$${name}" | base64 -w0; echo`).join('\n');
      const prepared = adapter.prepare(claims({ env: hostile }), body, connection({ shell }));
      await adapter.open(prepared, new AbortController().signal);
      const output = await adapter.run(prepared, new AbortController().signal);
      const received = Object.fromEntries(
        output.stdout
          .trim()
          .split('\n')
          .map((line) => {
            const [name, encoded] = line.split('=', 2) as [string, string];
            return [name, Buffer.from(encoded, 'base64').toString('utf8')];
          }),
      );
      expect(received).toEqual(hostile);
      expect(output.stderr).toBe('');
      expect(existsSync('/tmp/rg-never')).toBe(false);
    });

    it.each(['/bin/sh', '/bin/bash'])('exports parameters to the commands a script starts, leaves no helper behind, and keeps line numbers (%s)', async (shell) => {
      // fd 3 is checked with the shell's own `[` (no pipeline): a pipeline's pipe() may reuse
      // the freed fd 3 in the shell for a moment, which `ls /proc/$$/fd` in it would see.
      const body = '# line 1\nenv | grep -c "^TARGET=" ; set | grep -c __rungate || true\nif [ -e /proc/$$/fd/3 ]; then echo 1; else echo 0; fi\nno-such-command-here';
      const output = await run(body, { env: { TARGET: 'web-1', NOTE: 'two\nlines\nmore' } }, connection({ shell }));
      expect(output.stdout).toBe('1\n0\n0\n');
      expect(output.stderr).toMatch(/(line )?4: no-such-command-here: (command )?not found/);
      expect(output.exitCode).toBe(127);
    });

    it('runs nothing of a body with a syntax error, parameters included', async () => {
      const touched = marker();
      const output = await run(`touch ${touched}\nif then fi`, { env: { TARGET: 'web-1' } });
      expect(output.exitCode).not.toBe(0);
      expect(existsSync(touched)).toBe(false);
    });

    it('is safe to cancel while opening: the open fails, nothing is left and abandon is safe', async () => {
      for (const delayMs of [0, 1, 5]) {
        const touched = marker();
        const prepared = adapter.prepare(claims({ env: { MARKER: 'x' } }), `touch ${touched}`, connection());
        const opening = adapter.open(prepared, new AbortController().signal);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        await adapter.cancel(prepared);
        const opened = await opening.then(
          () => true,
          (error: unknown) => error,
        );
        // Depending on timing the open failed, or succeeded and the cancel stopped its shell.
        if (opened !== true) expect(opened).toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringContaining('nothing was executed') });
        await adapter.abandon(prepared);
        await expect(adapter.run(prepared, new AbortController().signal)).rejects.toMatchObject({ code: 'EXECUTION_FAILED' });
        if (prepared.process?.pid) expect(isRunning(prepared.process.pid)).toBe(false);
        expect(readdirSync(base)).toEqual([]);
        expect(existsSync(touched)).toBe(false);
      }
    });

    it('settles an open whose signal aborted, leaving nothing behind', async () => {
      const abort = new AbortController();
      const prepared = adapter.prepare(claims(), 'echo never', connection());
      const opening = adapter.open(prepared, abort.signal);
      abort.abort('abandoned');
      await expect(opening).rejects.toMatchObject({ code: 'EXECUTION_FAILED' });
      expect(readdirSync(base)).toEqual([]);
      if (prepared.process?.pid) expect(isRunning(prepared.process.pid)).toBe(false);
      await adapter.abandon(prepared);
    });

    it('reports a shell that cannot start from open, leaving no directory behind', async () => {
      const shell = join(base, '..', `shell-${randomUUID()}`);
      writeFileSync(shell, '#!/bin/sh\n');
      chmodSync(shell, 0o755);
      const prepared = adapter.prepare(claims(), 'echo never', connection({ shell }));
      rmSync(shell);
      await expect(adapter.open(prepared, new AbortController().signal)).rejects.toMatchObject({ code: 'TARGET_UNAVAILABLE', message: expect.stringContaining('(ENOENT); nothing was executed') });
      expect(readdirSync(base)).toEqual([]);
      await adapter.abandon(prepared);
    });

    it('refuses to run in a shell that died before it got the body', async () => {
      const prepared = adapter.prepare(claims(), 'echo never', connection());
      await adapter.open(prepared, new AbortController().signal);
      process.kill(prepared.process?.pid as number, 'SIGKILL');
      await prepared.process?.finished;
      await expect(adapter.run(prepared, new AbortController().signal)).rejects.toMatchObject({ code: 'TARGET_UNAVAILABLE', message: expect.stringContaining('exited before it was given the run; nothing was executed') });
    });
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
