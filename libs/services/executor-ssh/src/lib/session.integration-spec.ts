import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { loadConfig, type SshConnectionConfig } from '@rungate/config';
import { eventually } from '@rungate/testing';
import { ExecutorHarness } from '../testing/executor-harness';
import { SshAdapter, type PreparedSshRun } from './ssh.adapter';
import { SshTargets } from './ssh-targets';

/**
 * ADR 9: the session opens while the pipeline claims the run id and waits for the ack of
 * `started`, and nothing of the runbook is sent before both. These tests drive the adapter's
 * `open`, `abandon`, `cancel` and `run` directly against a real sshd, and the pipeline over
 * NATS where it decides what happens.
 */
describe('executor-ssh sessions opened before their script (open / abandon)', () => {
  let h: ExecutorHarness;
  let adapter: SshAdapter;
  let connections: SshConnectionConfig[];
  const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
  /** The replica's connection pools, to count their warm spares. */
  const replicaTargets = new SshTargets(quiet);
  /** Accepts TCP connections and never says a word: a host whose SSH server does not answer. */
  let tarpit: Server;
  const held = new Set<Socket>();

  beforeAll(async () => {
    tarpit = createServer((socket) => {
      held.add(socket);
      socket.on('close', () => held.delete(socket));
    });
    await new Promise<void>((resolve) => tarpit.listen(0, '127.0.0.1', resolve));
    const tarpitPort = (tarpit.address() as { port: number }).port;
    const entry = (name: string, port: number, extra = '') => (sshd: ExecutorHarness['sshd']) =>
      `  - name: ${name}\n    type: ssh\n    host: 127.0.0.1\n    port: ${port}\n    user: ${sshd.user}\n    hostKey: "${sshd.hostKey}"\n    privateKey: file:${sshd.clientKeyFile}\n${extra}`;
    h = await ExecutorHarness.create('session', {
      // One connection name per test that counts connections, so each starts with an empty pool of its own.
      connections: ({ sshd }) =>
        [
          entry('single', sshd.port, '    pool: { max: 1, sessions: 1 }\n'),
          entry('lost', sshd.port),
          entry('cancelled', sshd.port),
          // No warm spare: the test stalls the exec request of a session opened for the run.
          entry('stalled', sshd.port, '    pool: { max: 1, sessions: 1 }\n    warmSessions: 0\n'),
          entry('warm', sshd.port),
          entry('warm-killed', sshd.port),
          entry('warm-taken', sshd.port),
          entry('cold', sshd.port, '    warmSessions: 0\n'),
          entry('pair', sshd.port, '    pool: { max: 1, sessions: 2 }\n'),
          entry('no-shell', sshd.port, '    shell: /nonexistent/sh\n'),
          entry('tarpit', tarpitPort, '    connectTimeout: 30s\n'),
        ]
          .map((make) => make(sshd))
          .join(''),
    });
    connections = loadConfig(h.configFile).connections.filter((c): c is SshConnectionConfig => c.type === 'ssh');
    adapter = new SshAdapter(new SshTargets(quiet), quiet, { killAfterMs: 500 });
    await h.startReplica({ targets: replicaTargets });
  });

  afterAll(async () => {
    await adapter?.close();
    await h?.close();
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => tarpit?.close(resolve));
  });

  const tag = () => `# ${randomUUID()}`;
  const marker = (name: string) => join(h.sshd.home, `${name}-${randomUUID()}`);

  function prepare(body: string, on = 'host', by = adapter): PreparedSshRun {
    const connection = connections.find((c) => c.name === on);
    if (!connection) throw new Error(`rungate.yaml has no ssh connection ${on}`);
    return by.prepare(h.claims(body, { connection: { name: on, type: 'ssh' } }), body, connection);
  }

  /** The user's processes other than sshd's own per-connection ones: whatever a session started. */
  const started = () => h.sshd.userProcesses().filter((p) => !p.command.startsWith('sshd'));
  /** Interpreters started by `exec sh -s`, waiting on their stdin (a run's, or a warm spare). */
  const isShell = (command: string) => /^(\S*\/)?sh -s$/.test(command);
  const waitingShells = () => started().filter((p) => isShell(p.command));
  /** Warm spares held by this file's adapters, which are shells waiting on the host too. */
  const spares = () => adapter.spares + replicaTargets.spares;

  /** Nothing runs on the host but the warm spares' shells, which have been sent nothing. */
  async function nothingLeftRunning(): Promise<void> {
    await eventually(async () => {
      const left = started();
      if (left.some((p) => !isShell(p.command)) || left.length !== spares()) throw new Error(`still running on the host (${spares()} warm spares): ${JSON.stringify(left)}`);
    }, 10_000);
  }

  /** Runs `body` on `on` through open and run, as the pipeline does. */
  async function openAndRun(body: string, on: string, by = adapter): Promise<{ prepared: PreparedSshRun; result: Awaited<ReturnType<SshAdapter['run']>> }> {
    const prepared = prepare(`${body}\n${tag()}`, on, by);
    const { signal } = new AbortController();
    await by.open(prepared, signal);
    return { prepared, result: await by.run(prepared, signal) };
  }

  /** Waits for a shell that was not there before to wait on the host (the new spare), and returns its pid. */
  async function newSpare(before: Set<number>): Promise<number> {
    let pid = 0;
    await eventually(async () => {
      const fresh = waitingShells().filter((p) => !before.has(p.pid));
      if (fresh.length !== 1) throw new Error(`want one new waiting shell, have ${JSON.stringify(started())}`);
      pid = fresh[0]?.pid ?? 0;
    }, 10_000, 10);
    return pid;
  }

  const shellPids = () => new Set(waitingShells().map((p) => p.pid));

  async function expectLogins(count: number): Promise<void> {
    await eventually(async () => {
      if (h.sshd.acceptedLogins() < count) throw new Error(`sshd logged ${h.sshd.acceptedLogins()} logins, want ${count}`);
    }, 10_000);
    expect(h.sshd.acceptedLogins()).toBe(count);
  }

  it('open starts the interpreter waiting on stdin; abandon closes it having run nothing, and frees its session', async () => {
    const logins = h.sshd.acceptedLogins();
    const touched = marker('abandoned');
    const prepared = prepare(`touch ${touched}\n${tag()}`, 'single');
    await adapter.open(prepared, new AbortController().signal);
    // The session is open on the host: the shell is there, waiting for a script that never comes.
    await eventually(async () => {
      if (waitingShells().length !== 1) throw new Error(`waiting shells: ${JSON.stringify(started())}`);
    }, 10_000, 20);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(existsSync(touched)).toBe(false);
    await adapter.abandon(prepared);
    await nothingLeftRunning();
    expect(existsSync(touched)).toBe(false);
    // Abandoning again, and cancelling afterwards, change nothing.
    await adapter.abandon(prepared);
    await adapter.cancel(prepared);
    // The pool (one connection, one session) has its slot back: the next run opens and runs on the same connection.
    const next = prepare(`echo next\n${tag()}`, 'single');
    const signal = new AbortController().signal;
    await adapter.open(next, signal);
    expect(await adapter.run(next, signal)).toMatchObject({ exitCode: 0, stdout: 'next\n', stderr: '' });
    await expectLogins(logins + 1);
    expect(existsSync(touched)).toBe(false);
  });

  it('abandon after an open that failed is safe', async () => {
    const prepared = prepare(`true\n${tag()}`, 'down');
    await expect(adapter.open(prepared, new AbortController().signal)).rejects.toMatchObject({ code: 'TARGET_UNAVAILABLE', message: expect.stringMatching(/nothing was executed/) });
    await expect(adapter.abandon(prepared)).resolves.toBeUndefined();
    await expect(adapter.cancel(prepared)).resolves.toBeUndefined();
  });

  it('runs without open: run opens its own session', async () => {
    const result = await adapter.run(prepare(`echo "alone $X"\n${tag()}`), new AbortController().signal);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'alone \n' });
  });

  it('reports a shell that exits before its script arrives as the run\'s exit code, as before', async () => {
    const prepared = prepare(`echo never\n${tag()}`, 'no-shell');
    const signal = new AbortController().signal;
    await adapter.open(prepared, signal);
    // The shell fails and the session closes before the run looks (however long that takes here).
    await eventually(async () => expect(prepared.session?.closed).toBe(true));
    const result = await adapter.run(prepared, signal);
    expect(result).toMatchObject({ exitCode: 127, stdout: '', stderr: expect.stringMatching(/nonexistent\/sh.*not found/) });
  });

  it('opens another session when the opened one was lost before its script was sent; the body runs once', async () => {
    const counter = marker('lost');
    const prepared = prepare(`echo run >> ${counter}\n${tag()}`, 'lost');
    const signal = new AbortController().signal;
    await adapter.open(prepared, signal);
    expect(h.sshd.dropConnections()).toBeGreaterThan(0);
    await nothingLeftRunning();
    // What this test is about: a loss the executor has seen before the script goes. (One it has
    // not seen yet is indistinguishable from a loss mid-run, and rightly reported unknown.)
    await eventually(async () => expect(prepared.session?.closed).toBe(true));
    const result = await adapter.run(prepared, signal);
    expect(result).toMatchObject({ exitCode: 0 });
    expect(readFileSync(counter, 'utf8')).toBe('run\n');
  });

  it('cancel while open is still connecting is safe, and open settles as soon as its signal aborts', async () => {
    const prepared = prepare(`true\n${tag()}`, 'tarpit');
    const abort = new AbortController();
    const opening = adapter.open(prepared, abort.signal);
    opening.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // What the pipeline does on a timeout or shutdown: abort, then cancel.
    abort.abort('timeout');
    await expect(adapter.cancel(prepared)).resolves.toBeUndefined();
    const t0 = performance.now();
    await expect(opening).rejects.toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringMatching(/nothing was executed/) });
    expect(performance.now() - t0).toBeLessThan(100);
    await expect(adapter.abandon(prepared)).resolves.toBeUndefined();
    await expect(adapter.run(prepared, abort.signal)).rejects.toMatchObject({ code: 'EXECUTION_FAILED' });
  });

  it('cancel during open, without an abort, leaves no session: open fails and nothing was sent', async () => {
    const touched = marker('cancelled');
    const prepared = prepare(`touch ${touched}\n${tag()}`, 'cancelled');
    const signal = new AbortController().signal;
    // A fresh connection: open is still connecting when cancel comes.
    const opening = adapter.open(prepared, signal);
    opening.catch(() => undefined);
    await expect(adapter.cancel(prepared)).resolves.toBeUndefined();
    await expect(opening).rejects.toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringMatching(/cancelled before its script was sent; nothing was executed/) });
    await expect(adapter.run(prepared, signal)).rejects.toMatchObject({ code: 'EXECUTION_FAILED' });
    await adapter.abandon(prepared);
    await nothingLeftRunning();
    expect(existsSync(touched)).toBe(false);
  });

  it('settles open on abort while the server has not answered the exec request, and closes the late session unused', async () => {
    const touched = marker('stalled');
    // Connect first, so only the exec request is left to stall; the connection's own sshd process is the new one.
    const perConnection = () => h.sshd.userProcesses().filter((p) => /^sshd: \S+@notty$/.test(p.command));
    const before = new Set(perConnection().map((p) => p.pid));
    const warm = prepare(`true\n${tag()}`, 'stalled');
    await adapter.run(warm, new AbortController().signal);
    const [connectionProcess, ...others] = perConnection().filter((p) => !before.has(p.pid));
    if (!connectionProcess || others.length > 0) throw new Error(`not one new per-connection sshd process: ${JSON.stringify(h.sshd.userProcesses())}`);
    process.kill(connectionProcess.pid, 'SIGSTOP');
    const prepared = prepare(`touch ${touched}\n${tag()}`, 'stalled');
    const abort = new AbortController();
    let opening: Promise<void>;
    try {
      opening = adapter.open(prepared, abort.signal);
      opening.catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 200));
      abort.abort('abandoned');
      const t0 = performance.now();
      await expect(opening).rejects.toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringMatching(/nothing was executed/) });
      expect(performance.now() - t0).toBeLessThan(100);
    } finally {
      process.kill(connectionProcess.pid, 'SIGCONT');
      await adapter.abandon(prepared);
    }
    // The server now starts the shell; it is closed unused, and its session slot comes back.
    await nothingLeftRunning();
    expect(existsSync(touched)).toBe(false);
    const next = prepare(`echo next\n${tag()}`, 'stalled');
    await expect(adapter.run(next, new AbortController().signal)).resolves.toMatchObject({ exitCode: 0, stdout: 'next\n' });
    expect(existsSync(touched)).toBe(false);
  });

  describe('warm spare sessions', () => {
    it('opens a spare after a connection\'s first run; the next run takes it (its shell was waiting before the run)', async () => {
      const logins = h.sshd.acceptedLogins();
      const before = shellPids();
      const first = await openAndRun('echo one', 'warm');
      expect(first.result).toMatchObject({ exitCode: 0, stdout: 'one\n', stderr: '' });
      expect(first.prepared.session?.spare).toBe(false);
      const spare = await newSpare(before);
      expect(first.prepared.pool.spares).toBe(1);
      // Nothing was sent to it: it is still waiting, well after it opened.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(waitingShells().map((p) => p.pid)).toContain(spare);
      const second = await openAndRun('echo "two $$"', 'warm');
      // The run's interpreter is the spare's: its pid (and process group) is the shell that waited.
      expect(second.prepared.session?.spare).toBe(true);
      expect(second.prepared.pgid).toBe(spare);
      expect(second.result).toMatchObject({ exitCode: 0, stdout: `two ${spare}\n`, stderr: '' });
      // And another spare is there for the run after, on the same connection.
      const next = await newSpare(new Set([...before, spare]));
      expect(next).not.toBe(spare);
      expect(second.prepared.pool.spares).toBe(1);
      await expectLogins(logins + 1);
      await nothingLeftRunning();
    });

    it('replaces a spare killed on the host; the run runs once, in a fresh session', async () => {
      const counter = marker('warm-killed');
      const before = shellPids();
      const { prepared: first } = await openAndRun('true', 'warm-killed');
      const spare = await newSpare(before);
      process.kill(spare, 'SIGKILL');
      // The pool sees it die and drops it (no new spare until the connection is used again).
      await eventually(async () => {
        if (first.pool.spares > 0) throw new Error('the pool still holds the spare');
      }, 10_000, 10);
      const { prepared, result } = await openAndRun(`echo run >> ${counter}; echo "$$"`, 'warm-killed');
      expect(result).toMatchObject({ exitCode: 0, stderr: '' });
      expect(prepared.pgid).not.toBe(spare);
      expect(readFileSync(counter, 'utf8')).toBe('run\n');
      await nothingLeftRunning();
    });

    it('opens another session when the spare a run took dies before its script is sent; the body runs once', async () => {
      const counter = marker('warm-taken');
      const before = shellPids();
      await openAndRun('true', 'warm-taken');
      const spare = await newSpare(before);
      const prepared = prepare(`echo run >> ${counter}\n${tag()}`, 'warm-taken');
      const { signal } = new AbortController();
      await adapter.open(prepared, signal);
      expect(prepared.session?.spare).toBe(true);
      // Killed between open and run (while the pipeline records the start): its shell reports SIGKILL, having run nothing.
      process.kill(spare, 'SIGKILL');
      await eventually(async () => {
        if (!prepared.session?.dead) throw new Error('the session has not seen its shell die yet');
      }, 10_000, 10);
      const result = await adapter.run(prepared, signal);
      expect(result).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
      expect(prepared.pgid).not.toBe(spare);
      expect(readFileSync(counter, 'utf8')).toBe('run\n');
      await nothingLeftRunning();
    });

    it('abandons a spare a run took as it would any session: end-of-file, nothing ran', async () => {
      const touched = marker('warm-abandoned');
      const before = shellPids();
      await openAndRun('true', 'warm');
      const spare = [await newSpare(before)];
      const prepared = prepare(`touch ${touched}\n${tag()}`, 'warm');
      await adapter.open(prepared, new AbortController().signal);
      expect(prepared.session?.spare).toBe(true);
      await adapter.abandon(prepared);
      await eventually(async () => {
        if (waitingShells().some((p) => spare.includes(p.pid))) throw new Error('the abandoned spare is still waiting');
      }, 10_000, 10);
      await nothingLeftRunning();
      expect(existsSync(touched)).toBe(false);
    });

    it('opens no spare with warmSessions: 0', async () => {
      const before = shellPids();
      const first = await openAndRun('echo "$$"', 'cold');
      const second = await openAndRun('echo "$$"', 'cold');
      expect([first.result.exitCode, second.result.exitCode]).toEqual([0, 0]);
      expect(second.prepared.session?.spare).toBe(false);
      expect(before.has(second.prepared.pgid ?? 0)).toBe(false);
      expect(second.prepared.pool.spares).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect([...shellPids()].filter((pid) => !before.has(pid))).toEqual([]);
    });

    it('keeps spares and runs within pool.sessions: a connection with one session slot has no spare', async () => {
      const single = await openAndRun('true', 'single');
      expect(single.prepared.pool.spares).toBe(0);
      // Two slots: a run and a spare; a second run at once takes the spare, a third waits for a slot.
      const lock = join(h.sshd.home, `lock-${randomUUID()}`);
      const body = `mkdir ${lock}-$$ && sleep 0.3 && rmdir ${lock}-$$`;
      await openAndRun('true', 'pair');
      const results = await Promise.all([openAndRun(body, 'pair'), openAndRun(body, 'pair'), openAndRun(body, 'pair')]);
      expect(results.map((r) => r.result.exitCode)).toEqual([0, 0, 0]);
      const pool = results[0]?.prepared.pool;
      expect(pool?.size).toBe(1);
      expect(pool?.spares).toBeLessThanOrEqual(1);
      await nothingLeftRunning();
    });

    it('closes a spare unused for its maximum age, and opens the next only when the connection is used again', async () => {
      const aged = new SshAdapter(new SshTargets(quiet), quiet, { killAfterMs: 500, spareMaxAgeMs: 400 });
      try {
        const before = shellPids();
        await openAndRun('true', 'warm', aged);
        const spare = await newSpare(before);
        expect(aged.spares).toBe(1);
        await eventually(async () => {
          if (aged.spares > 0 || shellPids().has(spare)) throw new Error('the spare is still open');
        }, 10_000, 20);
        // Not replaced while the connection is not used.
        await new Promise((resolve) => setTimeout(resolve, 600));
        expect(aged.spares).toBe(0);
        expect([...shellPids()].filter((pid) => !before.has(pid))).toEqual([]);
        const { prepared, result } = await openAndRun('true', 'warm', aged);
        expect(result).toMatchObject({ exitCode: 0 });
        expect(prepared.session?.spare).toBe(false);
        await newSpare(before);
        expect(aged.spares).toBe(1);
      } finally {
        await aged.close();
      }
      await nothingLeftRunning();
    });

    it('close() closes every spare: no shell is left on the host', async () => {
      const own = new SshAdapter(new SshTargets(quiet), quiet, { killAfterMs: 500 });
      const before = shellPids();
      await openAndRun('true', 'warm', own);
      await openAndRun('true', 'cold', own);
      const spare = await newSpare(before);
      expect(own.spares).toBe(1);
      await own.close();
      expect(own.spares).toBe(0);
      await eventually(async () => {
        if (shellPids().has(spare)) throw new Error('the spare\'s shell is still there');
      }, 10_000, 20);
      await nothingLeftRunning();
    });
  });

  describe('through the pipeline over NATS', () => {
    it('runs a ticket sent several times at once only once; the refused copies\' sessions run nothing and close', async () => {
      const counter = marker('replayed');
      const request = h.sign(`echo run >> ${counter}\n${tag()}`);
      const outcomes = await Promise.allSettled(Array.from({ length: 4 }, () => h.exec(request)));
      const ran = outcomes.filter((o) => o.status === 'fulfilled').map((o) => (o as PromiseFulfilledResult<{ status: string }>).value.status);
      expect(ran).toEqual(['succeeded']);
      expect(outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason.code)).toEqual(Array(3).fill('TICKET_REPLAYED'));
      expect((await h.refusal(request)).code).toBe('TICKET_REPLAYED');
      await nothingLeftRunning();
      expect(readFileSync(counter, 'utf8')).toBe('run\n');
      const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.completed']);
      expect(events.filter((e) => e.type === 'audit.run.started')).toHaveLength(1);
    });

    it('reports a run that timed out while its connection was still opening as having executed nothing', async () => {
      const request = h.sign(`true\n${tag()}`, { on: 'tarpit', limits: { timeoutMs: 500, maxRows: 1, maxBytes: 1000 } });
      const t0 = performance.now();
      const error = await h.refusal(request);
      expect(performance.now() - t0).toBeLessThan(3000);
      expect(error).toMatchObject({ code: 'TIMEOUT', message: expect.stringMatching(/time limit of 500 ms.*nothing was executed/) });
      const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.failed']);
      expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'timed_out', errorCode: 'TIMEOUT' });
    });
  });
});
