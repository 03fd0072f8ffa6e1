import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ExecResult } from '@rungate/contracts';
import { outputDigest } from '@rungate/executors';
import { eventually } from '@rungate/testing';
import { sha256Hex } from '@rungate/tickets';
import { ExecutorHarness } from '../testing/executor-harness';
import { isRunning } from '../testing/processes';
import { DEFAULT_PATH } from './script-environment';

/** Shells this process spawned that are still running (the executor runs in this process). */
function shellChildren(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return Number(ppid) === process.pid && state !== 'Z' && ['sh', 'dash', 'bash'].includes(comm);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('executor-shell over NATS', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await ExecutorHarness.create('main');
    await h.startReplica({ killGraceMs: 500 });
  });

  afterAll(async () => {
    await h?.close();
  });

  afterEach(async () => {
    // Whatever happened to a run, its private directory goes once it was answered (a refused
    // run's unused shell and directory are cleaned up just after its refusal, ADR 9).
    await eventually(async () => expect(h.leftoverRunDirs()).toEqual([]), 5_000);
  });

  /** A comment that makes each body (and so its digest) unique to one test. */
  const tag = () => `# ${randomUUID()}`;
  /** A file a body would create if anything it must not run ran. */
  const canary = () => join(h.dir, `canary-${randomUUID()}`);

  function processOutput(result: ExecResult) {
    if (result.output.kind !== 'process') throw new Error(`expected process output, got ${result.output.kind}`);
    return result.output;
  }

  describe('parameters', () => {
    it('passes hostile asenv values byte for byte, and none of them runs', async () => {
      const touched = canary();
      const values: Record<string, string> = {
        SUBSTITUTION: `$(touch ${touched})`,
        BACKTICKS: `\`touch ${touched}\``,
        QUOTES: `'; touch ${touched}; echo '"; touch ${touched}; echo "`,
        EXPANSIONS: '$HOME ${PATH} $((1+1)) ~ * ?',
        SEPARATORS: `a; b && c || d | e > ${touched} < /etc/passwd &`,
        NEWLINES: `first\ntouch ${touched}\r\n\tlast\n`,
        BACKSLASHES: '\\\\ \\n \\x41 \\',
        FORMAT: '%s %n %d -n -e',
        UNICODE: 'héllo — ☃ 𝄞 \u202e',
        EMPTY: '',
      };
      const names = Object.keys(values);
      // Each value leaves the script as base64, so the comparison is on exact bytes.
      const body = `${names.map((name) => `printf '%s=' ${name}; printf '%s' "$${name}" | base64 -w0; echo`).join('\n')}\n${tag()}`;
      const result = await h.exec(h.sign(body, { env: values, params: values }));
      expect(result.status).toBe('succeeded');
      const received = Object.fromEntries(
        processOutput(result)
          .stdout.trim()
          .split('\n')
          .map((line) => {
            const [name, encoded] = line.split('=', 2) as [string, string];
            return [name, Buffer.from(encoded, 'base64').toString('utf8')];
          }),
      );
      expect(received).toEqual(values);
      expect(existsSync(touched)).toBe(false);
    });

    it('refuses an asenv parameter that would replace a connection variable, before anything runs', async () => {
      const touched = canary();
      const request = h.sign(`touch ${touched} ${tag()}`, { env: { DEPLOY_TOKEN: 'chosen-by-the-caller' } });
      const error = await h.refusal(request);
      expect(error).toMatchObject({ code: 'INVALID_PARAMS', message: expect.stringContaining('connection ops-box declares this variable') });
      expect(existsSync(touched)).toBe(false);
      const events = await h.eventually(request.runId, ['audit.run.failed']);
      expect(events.map((e) => [e.type, e.outcome?.status])).toEqual([['audit.run.failed', 'refused']]);
    });
  });

  describe('environment', () => {
    it('is clean: nothing of the executor\'s own environment, only PATH, HOME, TMPDIR, the connection\'s variables and asenv', async () => {
      expect(process.env[h.sentinel.name]).toBe(h.sentinel.value);
      const result = await h.exec(h.sign(`env | cut -d= -f1 | sort; echo "PATH=$PATH"; echo "HOME=$HOME"; echo "TMPDIR=$TMPDIR"; pwd; env ${tag()}`, { env: { TARGET: 'web-1' } }));
      const lines = processOutput(result).stdout.split('\n');
      const names = lines.slice(0, lines.findIndex((line) => line.startsWith('PATH=')));
      // What the shell adds itself (dash: PWD; bash also SHLVL and _) is not the executor's.
      expect(names.filter((name) => !['PWD', 'SHLVL', '_'].includes(name))).toEqual(['AWS_PROFILE', 'DEPLOY_TOKEN', 'HOME', 'PATH', 'TARGET', 'TMPDIR']);
      const [path, home, tmp, cwd] = lines.slice(names.length, names.length + 4);
      expect(path).toBe(`PATH=${DEFAULT_PATH}`);
      expect(home).toBe(`HOME=${cwd}`);
      expect(tmp).toBe(`TMPDIR=${cwd}`);
      expect(JSON.stringify(result)).not.toContain(h.sentinel.value);
    });

    it('gives the script the connection\'s secret, and never lets it into the reply or the audit stream', async () => {
      const request = h.sign(`echo "token=$DEPLOY_TOKEN"; printf %s "$DEPLOY_TOKEN" | sha256sum | cut -c1-64; env >&2 ${tag()}`);
      const result = await h.exec(request);
      const output = processOutput(result);
      expect(output.stdout).toBe(`token=[REDACTED]\n${sha256Hex(h.deployToken)}\n`);
      expect(output.stderr).toContain('DEPLOY_TOKEN=[REDACTED]');
      await h.eventually(request.runId, ['audit.run.completed']);
      expect(JSON.stringify([result, h.audit])).not.toContain(h.deployToken);
    });

    it('refuses a run whose connection secret is not set, naming the reference only', async () => {
      const request = h.sign(`echo hi ${tag()}`, { connection: { name: 'unset-box', type: 'shell' } });
      const error = await h.refusal(request);
      expect(error).toMatchObject({ code: 'TARGET_UNAVAILABLE', message: expect.stringMatching(/^connection unset-box: env TOKEN: secret env:RG_SHELL_TEST_\w+_NEVER_SET: environment variable is not set; nothing was executed$/) });
      const events = await h.eventually(request.runId, ['audit.run.failed']);
      expect(events.map((e) => e.type)).not.toContain('audit.run.started');
    });

    it('runs each script in a fresh private directory that is removed afterwards, whatever the script left in it', async () => {
      const body = () => `pwd; ls -A | wc -l; stat -c %a .; echo data > left-behind; mkdir -p locked/deeper && chmod 000 locked/deeper locked ${tag()}`;
      const first = processOutput(await h.exec(h.sign(body())));
      const second = processOutput(await h.exec(h.sign(body(), { connection: { name: 'bash-box', type: 'shell' } })));
      const [dir1, count1, mode1] = first.stdout.trim().split('\n');
      const [dir2, count2, mode2] = second.stdout.trim().split('\n');
      expect([count1?.trim(), mode1, count2?.trim(), mode2]).toEqual(['0', '700', '0', '700']);
      expect(dir1).not.toBe(dir2);
      expect(dir1?.startsWith(`${h.runsDir}/`)).toBe(true);
      expect(existsSync(dir1 as string)).toBe(false);
      expect(existsSync(dir2 as string)).toBe(false);
    });
  });

  describe('limits', () => {
    it('kills the whole process group at the time limit: the script and its background child', async () => {
      const pidFile = join(h.dir, `pids-${randomUUID()}`);
      const request = h.sign(`sleep 300 & echo "$! $$" > "$PID_FILE"; sleep 300 ${tag()}`, { env: { PID_FILE: pidFile }, limits: { timeoutMs: 1000, maxRows: 1, maxBytes: 10_000 } });
      const error = await h.refusal(request);
      expect(error.code).toBe('TIMEOUT');
      expect(error.message).toMatch(/exceeded its time limit of 1000 ms; its process group was stopped/);
      const pids = readFileSync(pidFile, 'utf8').trim().split(' ').map(Number);
      expect(pids).toHaveLength(2);
      await eventually(async () => expect(pids.filter(isRunning)).toEqual([]), 5000, 20);
      const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.failed']);
      expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'timed_out', errorCode: 'TIMEOUT', exitCode: null });
    });

    it('caps stdout and stderr together at the ticket\'s maxBytes and says the output was truncated', async () => {
      const request = h.sign(`head -c 5000 /dev/zero | tr '\\0' x; echo never-kept >&2 ${tag()}`, { limits: { timeoutMs: 10_000, maxRows: 1, maxBytes: 1000 } });
      const result = await h.exec(request);
      expect(result.output).toEqual({ kind: 'process', exitCode: 0, stdout: 'x'.repeat(1000), stderr: '', truncated: true });
      const events = await h.eventually(request.runId, ['audit.run.completed']);
      expect(events.find((e) => e.type === 'audit.run.completed')?.outcome).toMatchObject({ truncated: true, exitCode: 0 });
    });

    it('applies the connection\'s own maxBytes when the ticket allows more', async () => {
      const result = await h.exec(h.sign(`head -c 5000 /dev/zero | tr '\\0' y ${tag()}`, { connection: { name: 'small-box', type: 'shell' } }));
      expect(result.output).toMatchObject({ stdout: 'y'.repeat(200), truncated: true });
    });
  });

  describe('audit', () => {
    const common = (request: { runId: string; claims: { runbook?: unknown } }) => ({
      source: 'executor-shell',
      runId: request.runId,
      actor: { user: 'alice@example.com', groups: ['sre'], agent: 'claude-code', tokenId: 'tok-1' },
      runbook: request.claims.runbook,
      connection: { name: 'ops-box', type: 'shell' },
      decision: { effect: 'allow', rule: 'sre-shell' },
    });

    it('records started, then completed with the exit code, the output\'s size and digest', async () => {
      const request = h.sign(`echo ok ${tag()}`, { params: { target: 'web-1' } });
      const result = await h.exec(request);
      expect(result).toMatchObject({ runId: request.runId, status: 'succeeded', dryRun: false, output: { kind: 'process', exitCode: 0, stdout: 'ok\n', stderr: '', truncated: false } });
      const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.completed']);
      expect(events.map((e) => e.type)).toEqual(['audit.run.started', 'audit.run.completed']);
      expect(events[0]).toMatchObject({ ...common(request), params: { target: 'web-1' }, details: { readOnly: false, dryRun: false, bodySha256: request.claims.bodySha256 } });
      const digest = outputDigest(result.output);
      expect(events[1]).toMatchObject({
        ...common(request),
        outcome: { status: 'succeeded', exitCode: 0, bytes: digest.bytes, truncated: false, outputSha256: digest.sha256, dryRun: false },
      });
      expect(events[1]?.outcome?.durationMs).toEqual(result.durationMs);
    });

    it('answers a non-zero exit with its output and status failed, audited as failed with the exit code', async () => {
      const request = h.sign(`echo "half done"; echo "kubectl: not found" >&2; exit 3 ${tag()}`);
      const result = await h.exec(request);
      expect(result).toMatchObject({ status: 'failed', output: { exitCode: 3, stdout: 'half done\n', stderr: 'kubectl: not found\n' } });
      const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.failed']);
      const digest = outputDigest(result.output);
      expect(events.find((e) => e.type === 'audit.run.failed')).toMatchObject({
        ...common(request),
        outcome: { status: 'failed', exitCode: 3, bytes: digest.bytes, outputSha256: digest.sha256, truncated: false },
      });
    });
  });

  describe('refusals: nothing runs, everything is audited', () => {
    it('refuses a dry run clearly, before anything runs', async () => {
      const touched = canary();
      const request = h.sign(`touch ${touched} ${tag()}`, { dryRun: true });
      const error = await h.refusal(request);
      expect(error).toMatchObject({ code: 'INVALID_PARAMS', message: expect.stringMatching(/^dryRun: connection ops-box is a shell, which cannot preview or roll back/) });
      expect(existsSync(touched)).toBe(false);
      const events = await h.eventually(request.runId, ['audit.run.failed']);
      expect(events.map((e) => [e.type, e.outcome?.status, e.outcome?.errorCode])).toEqual([['audit.run.failed', 'refused', 'INVALID_PARAMS']]);
    });

    it('refuses a connection this executor does not have, or of another type', async () => {
      for (const connection of [
        { name: 'nope', type: 'shell' as const },
        { name: 'app-db', type: 'shell' as const },
        { name: 'ops-box', type: 'postgres' as const },
      ]) {
        const touched = canary();
        const request = h.sign(`touch ${touched} ${tag()}`, { connection });
        const error = await h.refusal(request);
        expect(error.code).toBe('CONNECTION_UNKNOWN');
        expect(existsSync(touched)).toBe(false);
        const [event] = await h.eventually(request.runId, ['audit.run.failed']);
        expect(event?.outcome).toMatchObject({ status: 'refused', errorCode: 'CONNECTION_UNKNOWN' });
      }
    });

    it('refuses a ticket signed by another key', async () => {
      const touched = canary();
      const request = h.sign(`touch ${touched} ${tag()}`, {}, h.foreignKey);
      expect((await h.refusal(request)).code).toBe('TICKET_INVALID');
      expect(existsSync(touched)).toBe(false);
      const event = await h.refusalByBody(request.body);
      expect(event).toMatchObject({ source: 'executor-shell', outcome: { status: 'refused', errorCode: 'TICKET_INVALID' } });
    });

    it('runs a ticket once and refuses its replay', async () => {
      const counter = join(h.dir, `counter-${randomUUID()}`);
      const request = h.sign(`echo run >> ${counter} ${tag()}`);
      await h.exec(request);
      expect((await h.refusal(request)).code).toBe('TICKET_REPLAYED');
      expect(readFileSync(counter, 'utf8')).toBe('run\n');
    });

    it('abandons the shell it opened for a replay: the body never reaches it, and the shell is gone', async () => {
      const counter = join(h.dir, `counter-${randomUUID()}`);
      // With a parameter, the replay's shell is also spawned with its parameter pipe.
      const request = h.sign(`echo run >> "$COUNTER" ${tag()}`, { env: { COUNTER: counter } });
      await h.exec(request);
      for (let replay = 0; replay < 3; replay++) expect((await h.refusal(request)).code).toBe('TICKET_REPLAYED');
      expect(readFileSync(counter, 'utf8')).toBe('run\n');
      await eventually(async () => expect(shellChildren()).toEqual([]), 5_000);
      expect(readFileSync(counter, 'utf8')).toBe('run\n');
    });

    it('refuses a body that differs from the one the ticket names', async () => {
      const touched = canary();
      const request = h.sign(`echo reviewed ${tag()}`);
      expect((await h.refusal({ ticket: request.ticket, body: `touch ${touched}` })).code).toBe('BODY_MISMATCH');
      expect(existsSync(touched)).toBe(false);
    });
  });
});
