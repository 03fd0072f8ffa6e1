import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { outputDigest } from '@rungate/executors';
import { eventually } from '@rungate/testing';
import { ExecutorHarness } from '../testing/executor-harness';
import { SshTargets } from './ssh-targets';

describe('executor-ssh over NATS against a real sshd', () => {
  let h: ExecutorHarness;
  /** The replica's connection pools, to count their warm spares. */
  const targets = new SshTargets({ log: () => undefined, warn: () => undefined, error: () => undefined });

  beforeAll(async () => {
    h = await ExecutorHarness.create('main');
    await h.startReplica({ targets });
  });

  afterAll(async () => {
    await h?.close();
  });

  /** A marker that makes each body (and so its digest) unique to one test. */
  const tag = () => `# ${randomUUID()}`;
  /** A file in the SSH user's home that a script may create; tests check it was (not) created. */
  const marker = (name: string) => join(h.sshd.home, `${name}-${randomUUID()}`);

  describe('runs', () => {
    it('returns stdout, stderr and the exit code, and audits them with the output digest', async () => {
      const request = h.sign(`echo "hello from $(id -un)"\necho oops >&2\nexit 3\n${tag()}`);
      const result = await h.exec(request);
      expect(result).toMatchObject({ runId: request.runId, status: 'failed', dryRun: false });
      expect(result.output).toEqual({ kind: 'process', exitCode: 3, stdout: `hello from ${h.sshd.user}\n`, stderr: 'oops\n', truncated: false });
      const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.failed']);
      const digest = outputDigest(result.output);
      expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({
        status: 'failed',
        exitCode: 3,
        bytes: digest.bytes,
        outputSha256: digest.sha256,
        truncated: false,
      });
    });

    it('reports exit code 0 as succeeded and audits audit.run.completed', async () => {
      const request = h.sign(`printf 'a\\nb\\n'\n${tag()}`);
      const result = await h.exec(request);
      expect(result).toMatchObject({ status: 'succeeded', output: { kind: 'process', exitCode: 0, stdout: 'a\nb\n', stderr: '' } });
      const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.completed']);
      expect(events.find((e) => e.type === 'audit.run.completed')?.outcome).toMatchObject({ status: 'succeeded', exitCode: 0, outputSha256: outputDigest(result.output).sha256 });
    });

    it('passes hostile asenv values to the script byte for byte, never as code', async () => {
      const pwned = marker('pwned');
      const env = {
        QUOTE: `'; touch ${pwned}; echo '`,
        SUBST: `$(touch ${pwned}) \`touch ${pwned}\` $HOME \${PATH}`,
        ESCAPES: 'back\\slash "double" \\n not-a-newline\nreal newline\ttab',
        GLOB: '* ? [a-z] ~ !1 -n -e',
        UNICODE: 'zürich — 東京 🚀',
        EMPTY: '',
      };
      const names = Object.keys(env);
      const request = h.sign(`printf '%s\\0' ${names.map((name) => `"$${name}"`).join(' ')}\n${tag()}`, { env });
      const result = await h.exec(request);
      expect(result.output).toMatchObject({ exitCode: 0, stderr: '' });
      const stdout = result.output.kind === 'process' ? result.output.stdout : '';
      expect(stdout.split('\0').slice(0, -1)).toEqual(Object.values(env));
      expect(existsSync(pwned)).toBe(false);
    });

    it('gives the script /dev/null as stdin, so a command cannot swallow the rest of the script', async () => {
      const result = await h.exec(h.sign(`read line; echo "read [$line] $?"\ncat\necho after\n${tag()}`));
      expect(result.output).toMatchObject({ exitCode: 0, stdout: 'read [] 1\nafter\n' });
    });

    it('runs nothing of a script that does not parse', async () => {
      const touched = marker('partial');
      const result = await h.exec(h.sign(`touch ${touched}\nif then fi\n${tag()}`));
      expect(result.status).toBe('failed');
      expect(result.output).toMatchObject({ exitCode: 2, stderr: expect.stringMatching(/syntax error/i) });
      expect(existsSync(touched)).toBe(false);
    });

    it('runs the script with the connection\'s shell', async () => {
      const result = await h.exec(h.sign(`echo "bash $BASH_VERSION"\n${tag()}`, { on: 'host-bash' }));
      expect(result.output).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/^bash \d+\.\d+/) });
    });

    it('keeps the bytes a script prints exactly, including invalid UTF-8 as U+FFFD and a missing final newline', async () => {
      const result = await h.exec(h.sign(`printf 'caf\\303\\251 \\377 end'\n${tag()}`));
      expect(result.output).toMatchObject({ exitCode: 0, stdout: 'café \uFFFD end' });
    });
  });

  describe('limits', () => {
    it('caps stdout and stderr together at the connection\'s maxBytes and still reports the exit code', async () => {
      const request = h.sign(`i=0; while [ $i -lt 50 ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); done; exit 4\n${tag()}`, { on: 'host-small' });
      const result = await h.exec(request);
      if (result.output.kind !== 'process') throw new Error('expected process output');
      expect(result.output).toMatchObject({ exitCode: 4, truncated: true });
      expect(Buffer.byteLength(result.output.stdout) + Buffer.byteLength(result.output.stderr)).toBe(64);
      const events = await h.eventually(request.runId, ['audit.run.failed']);
      expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ exitCode: 4, truncated: true });
    });

    it('caps at the ticket\'s maxBytes when it is below the connection\'s', async () => {
      const result = await h.exec(h.sign(`head -c 100000 /dev/zero | tr '\\0' x\n${tag()}`, { limits: { timeoutMs: 10_000, maxRows: 1, maxBytes: 1000 } }));
      expect(result.output).toMatchObject({ exitCode: 0, truncated: true, stdout: 'x'.repeat(1000) });
    });

    it('kills the remote process group at the time limit, background children included', async () => {
      const pidFile = marker('bg');
      const request = h.sign(`sleep 300 &\necho $! > ${pidFile}\nsleep 301\n${tag()}`, { limits: { timeoutMs: 1500, maxRows: 1, maxBytes: 1000 } });
      const error = await h.refusal(request);
      expect(error).toMatchObject({ code: 'TIMEOUT', message: expect.stringMatching(/time limit of 1500 ms.*process group \d+ on host was sent TERM/) });
      const background = Number(readFileSync(pidFile, 'utf8').trim());
      expect(background).toBeGreaterThan(1);
      await eventually(async () => {
        const left = h.sshd.userProcesses().filter((p) => /^sleep 30[01]$/.test(p.command));
        if (left.length > 0) throw new Error(`still running on the host: ${JSON.stringify(left)}`);
      }, 10_000);
      const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.failed']);
      expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'timed_out', errorCode: 'TIMEOUT' });
    });

    it('kills a group that ignores TERM with KILL', async () => {
      const request = h.sign(`trap '' TERM\nsleep 302 &\nsleep 303\n${tag()}`, { limits: { timeoutMs: 1000, maxRows: 1, maxBytes: 1000 } });
      const error = await h.refusal(request);
      expect(error).toMatchObject({ code: 'TIMEOUT', message: expect.stringMatching(/ended on SIGKILL/) });
      await eventually(async () => {
        const left = h.sshd.userProcesses().filter((p) => /^sleep 30[23]$/.test(p.command));
        if (left.length > 0) throw new Error(`still running on the host: ${JSON.stringify(left)}`);
      }, 10_000);
    });
  });

  describe('refusals', () => {
    it('refuses a dry run before anything runs: a shell script cannot be rolled back', async () => {
      const touched = marker('dry');
      const request = h.sign(`touch ${touched}\n${tag()}`, { dryRun: true });
      const error = await h.refusal(request);
      expect(error).toMatchObject({ code: 'INVALID_PARAMS', message: expect.stringMatching(/dryRun: host is an SSH connection.*cannot be dry-run.*nothing was executed/) });
      const [refused] = await h.eventually(request.runId, ['audit.run.failed']);
      expect(refused?.outcome?.status).toBe('refused');
      expect(h.eventsFor(request.runId).map((e) => e.type)).not.toContain('audit.run.started');
      expect(existsSync(touched)).toBe(false);
    });

    it('runs a ticket once and refuses its replay, running nothing the second time', async () => {
      const counter = marker('counter');
      const request = h.sign(`echo run >> ${counter}\n${tag()}`);
      expect(await h.exec(request)).toMatchObject({ status: 'succeeded' });
      const error = await h.refusal(request);
      expect(error.code).toBe('TICKET_REPLAYED');
      expect(readFileSync(counter, 'utf8')).toBe('run\n');
      const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.completed', 'audit.run.failed']);
      expect(events.map((e) => [e.type, e.outcome?.status ?? null])).toEqual([
        ['audit.run.started', null],
        ['audit.run.completed', 'succeeded'],
        ['audit.run.failed', 'refused'],
      ]);
      // The replay's session was opened while its run id was checked, and closed unused; what is
      // left are the connections' warm spares, shells waiting for a script (one per connection).
      await eventually(async () => {
        const left = h.sshd.userProcesses().filter((p) => !p.command.startsWith('sshd'));
        const others = left.filter((p) => !/^(\S*\/)?(ba)?sh -s$/.test(p.command));
        if (others.length > 0 || left.length !== targets.spares) throw new Error(`still running on the host (${targets.spares} spares): ${JSON.stringify(left)}`);
      }, 10_000);
    });

    it('refuses a server whose host key is not the pinned one, and runs nothing', async () => {
      const touched = marker('impostor');
      const logins = h.sshd.acceptedLogins();
      const request = h.sign(`touch ${touched}\n${tag()}`, { on: 'impostor' });
      const error = await h.refusal(request);
      expect(error.code).toBe('TARGET_UNAVAILABLE');
      expect(error.message).toMatch(/^connection impostor \(127\.0\.0\.1:\d+\): the server's host key is not the one pinned in hostKey.*nothing was executed/);
      for (const key of [h.sshd.hostKey, h.sshd.otherHostKey]) expect(error.message).not.toContain(key.split(' ')[1]?.slice(20, 40));
      expect(existsSync(touched)).toBe(false);
      expect(h.sshd.acceptedLogins()).toBe(logins);
      const events = await h.eventually(request.runId, ['audit.run.failed']);
      expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ errorCode: 'TARGET_UNAVAILABLE' });
    });

    it('says so when the host cannot be reached', async () => {
      const error = await h.refusal(h.sign(`true\n${tag()}`, { on: 'down' }));
      expect(error).toMatchObject({ code: 'TARGET_UNAVAILABLE', message: expect.stringMatching(/^connection down \(127\.0\.0\.1:\d+\): connection refused; nothing was executed$/) });
    });
  });

  describe('authentication', () => {
    it('logs in with a password', async () => {
      const result = await h.exec(h.sign(`id -un\n${tag()}`, { on: 'host-password' }));
      expect(result.output).toMatchObject({ exitCode: 0, stdout: `${h.sshd.user}\n` });
      expect(h.sshd.output()).toContain(`Accepted password for ${h.sshd.user}`);
    });

    it('logs in with a key that needs a passphrase', async () => {
      const result = await h.exec(h.sign(`id -un\n${tag()}`, { on: 'host-encrypted-key' }));
      expect(result.output).toMatchObject({ exitCode: 0, stdout: `${h.sshd.user}\n` });
    });

    it('reports a refused password without quoting it anywhere', async () => {
      const request = h.sign(`true\n${tag()}`, { on: 'host-wrong-password' });
      const error = await h.refusal(request);
      expect(error).toMatchObject({
        code: 'TARGET_UNAVAILABLE',
        message: `connection host-wrong-password (127.0.0.1:${h.sshd.port}): the server refused to authenticate user ${h.sshd.user} with the configured credentials; nothing was executed`,
      });
      const events = await h.eventually(request.runId, ['audit.run.failed']);
      expect(JSON.stringify(events)).not.toContain(h.sshd.password);
    });
  });
});
