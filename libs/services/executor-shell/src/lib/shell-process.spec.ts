import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@rungate/testing';
import { isRunning } from '../testing/processes';
import { scriptInput } from './script-input';
import { ShellProcess, type ShellProcessOptions } from './shell-process';

describe('ShellProcess', () => {
  let dir: string;
  let n = 0;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'rg-shell-process-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const start = (body: string, options: Partial<ShellProcessOptions> = {}) =>
    ShellProcess.start({ shell: '/bin/sh', input: scriptInput(body), cwd: dir, env: { PATH: '/usr/bin:/bin' }, maxBytes: 10_000, killGraceMs: 1000, ...options });

  /** A file the script writes its own and its background child's pids to. */
  const pidFile = () => join(dir, `pids-${++n}`);
  async function pidsFrom(file: string): Promise<number[]> {
    return eventually(async () => {
      const pids = existsSync(file) ? readFileSync(file, 'utf8').trim().split(/\s+/).map(Number) : [];
      if (pids.length !== 2 || pids.some((pid) => !Number.isInteger(pid))) throw new Error(`no pids in ${file} yet`);
      return pids;
    }, 10_000, 20);
  }
  const allGone = (pids: number[]) => eventually(async () => expect(pids.filter(isRunning)).toEqual([]), 5000, 20);

  it('reports the exit code and both streams', async () => {
    await expect(start('echo out; echo err >&2; exit 3').finished).resolves.toEqual({ kind: 'process', exitCode: 3, stdout: 'out\n', stderr: 'err\n', truncated: false });
  });

  it('reports a script killed by a signal as 128 + the signal number', async () => {
    await expect(start('echo before; kill -KILL $$').finished).resolves.toMatchObject({ exitCode: 137, stdout: 'before\n' });
  });

  it('keeps at most maxBytes of output and says it truncated, while the script still finishes', async () => {
    const output = await start('head -c 100000 /dev/zero | tr "\\0" x; echo done >&2', { maxBytes: 1000 }).finished;
    expect(output).toMatchObject({ exitCode: 0, truncated: true, stderr: '' });
    expect(output.stdout).toBe('x'.repeat(1000));
  });

  it('stops the whole process group: the script and its background children', async () => {
    const file = pidFile();
    const child = start(`sleep 300 & echo "$! $$" > ${file}; sleep 300`);
    const pids = await pidsFrom(file);
    expect(pids.every(isRunning)).toBe(true);
    await child.stop();
    await expect(child.finished).resolves.toMatchObject({ exitCode: 128 + 15 });
    await allGone(pids);
  });

  it('sends SIGKILL after the grace period to processes that ignore SIGTERM', async () => {
    const file = pidFile();
    const child = start(`trap '' TERM; sleep 300 & echo "$! $$" > ${file}; sleep 300`, { killGraceMs: 200 });
    const pids = await pidsFrom(file);
    await child.stop();
    await expect(child.finished).resolves.toMatchObject({ exitCode: 128 + 9 });
    await allGone(pids);
  });

  it('kills what a script left running when it exits, whether or not it holds the output pipes', async () => {
    const file = pidFile();
    const child = start(`sleep 300 & sleep 300 >/dev/null 2>&1 & echo "$! $$" > ${file}; echo started`);
    await expect(child.finished).resolves.toEqual({ kind: 'process', exitCode: 0, stdout: 'started\n', stderr: '', truncated: false });
    await allGone(await pidsFrom(file));
  });

  it('refuses a shell that cannot start, saying nothing ran', async () => {
    await expect(start('echo hi', { shell: join(dir, 'no-such-shell') }).finished).rejects.toMatchObject({ code: 'TARGET_UNAVAILABLE', message: expect.stringMatching(/\(ENOENT\); nothing was executed$/) });
  });

  it('does nothing when stopped after it finished', async () => {
    const child = start('exit 0');
    await child.finished;
    await expect(child.stop()).resolves.toBeUndefined();
  });
});
