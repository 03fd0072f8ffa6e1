import { randomUUID } from 'node:crypto';
import { eventually } from '@rungate/testing';
import { ExecutorHarness } from '../testing/executor-harness';
import { SshTargets } from './ssh-targets';

/** Connection reuse, the pool's bounds, reconnects and shutdown, counted on the sshd's side. */
describe('executor-ssh connection pool against a real sshd', () => {
  let h: ExecutorHarness;
  /** The replica's connection pools, to see when it noticed a dropped connection. */
  const targets = new SshTargets({ log: () => undefined, warn: () => undefined, error: () => undefined });

  beforeAll(async () => {
    h = await ExecutorHarness.create('pool', {
      // One connection name per test, so each starts with an empty pool of its own.
      connections: ({ sshd }) =>
        ['reuse', 'parallel', 'single', 'reconnect', 'dropped', 'shutdown']
          .map(
            (name) => `  - name: ${name}
    type: ssh
    host: 127.0.0.1
    port: ${sshd.port}
    user: ${sshd.user}
    hostKey: "${sshd.hostKey}"
    privateKey: file:${sshd.clientKeyFile}
${name === 'single' ? '    pool: { max: 1, sessions: 1 }\n' : ''}`,
          )
          .join(''),
    });
    await h.startReplica({ shutdownGraceMs: 300, targets });
  });

  afterAll(async () => {
    await h?.close();
  });

  const tag = () => `# ${randomUUID()}`;

  /** Waits until sshd logged `count` logins (its log trails the connection), then checks no more came. */
  async function expectLogins(count: number): Promise<void> {
    await eventually(async () => {
      if (h.sshd.acceptedLogins() < count) throw new Error(`sshd logged ${h.sshd.acceptedLogins()} logins, want ${count}`);
    }, 10_000);
    expect(h.sshd.acceptedLogins()).toBe(count);
  }

  it('runs one run after another on one SSH connection', async () => {
    const before = h.sshd.acceptedLogins();
    for (let i = 0; i < 5; i++) {
      const result = await h.exec(h.sign(`echo run ${i}\n${tag()}`, { on: 'reuse' }));
      expect(result.output).toMatchObject({ exitCode: 0, stdout: `run ${i}\n` });
    }
    await expectLogins(before + 1);
  });

  it('runs concurrent runs as sessions of one SSH connection', async () => {
    const before = h.sshd.acceptedLogins();
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => h.exec(h.sign(`sleep 0.2; echo parallel ${i}\n${tag()}`, { on: 'parallel' }))));
    expect(results.map((r) => r.output)).toEqual(Array.from({ length: 4 }, (_, i) => expect.objectContaining({ exitCode: 0, stdout: `parallel ${i}\n` })));
    await expectLogins(before + 1);
  });

  it('makes runs wait for a free session when the pool is full, instead of opening more', async () => {
    const before = h.sshd.acceptedLogins();
    const lock = `${h.sshd.home}/lock-${randomUUID()}`;
    // Each run holds a lock directory while it runs: two at once would find it taken and exit 9.
    const body = () => `mkdir ${lock} || exit 9\nsleep 0.2\nrmdir ${lock}\n${tag()}`;
    const results = await Promise.all(Array.from({ length: 3 }, () => h.exec(h.sign(body(), { on: 'single' }))));
    expect(results.map((r) => r.output)).toEqual(Array.from({ length: 3 }, () => expect.objectContaining({ exitCode: 0 })));
    await expectLogins(before + 1);
  });

  it('reconnects after the server dropped the connection', async () => {
    const before = h.sshd.acceptedLogins();
    await h.exec(h.sign(`true\n${tag()}`, { on: 'reconnect' }));
    await expectLogins(before + 1);
    expect(h.sshd.dropConnections()).toBeGreaterThan(0);
    // A drop the executor has not seen yet is indistinguishable from one mid-run (reported
    // unknown, the next test); this one is about reconnecting once it has seen it.
    await eventually(async () => expect(targets.connections).toBe(0));
    const result = await h.exec(h.sign(`echo back\n${tag()}`, { on: 'reconnect' }));
    expect(result.output).toMatchObject({ exitCode: 0, stdout: 'back\n' });
    await expectLogins(before + 2);
  });

  it('reports an unknown outcome when the connection drops mid-run, and the next run reconnects', async () => {
    const request = h.sign(`sleep 4.25\n${tag()}`, { on: 'dropped' });
    const pending = h.refusal(request);
    await eventually(async () => {
      if (!h.sshd.userProcesses().some((p) => p.command === 'sleep 4.25')) throw new Error('the run has not started on the host yet');
    }, 10_000, 20);
    h.sshd.dropConnections();
    const error = await pending;
    expect(error).toMatchObject({ code: 'OUTCOME_UNKNOWN', message: expect.stringMatching(/^connection dropped \(127\.0\.0\.1:\d+\): the SSH connection dropped while the script ran.*check before running it again/) });
    const events = await h.eventually(request.runId, ['audit.run.failed']);
    expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'unknown', errorCode: 'OUTCOME_UNKNOWN' });
    const next = await h.exec(h.sign(`echo again\n${tag()}`, { on: 'dropped' }));
    expect(next.output).toMatchObject({ exitCode: 0, stdout: 'again\n' });
  });

  it('at shutdown, cancels runs that outlast the grace period and kills their process groups', async () => {
    const request = h.sign(`sleep 304 &\nsleep 305\n${tag()}`, { on: 'shutdown' });
    const pending = h.refusal(request);
    await eventually(async () => {
      if (!h.sshd.userProcesses().some((p) => p.command === 'sleep 305')) throw new Error('the run has not started on the host yet');
    }, 10_000, 20);
    expect(h.sshd.openConnections()).toBeGreaterThan(0);
    const [replica] = h.services.splice(0);
    await replica?.close();
    const error = await pending;
    expect(error).toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringMatching(/cancelled because the executor is shutting down.*was sent TERM/) });
    await eventually(async () => {
      const left = h.sshd.userProcesses().filter((p) => /^sleep 30[45]$/.test(p.command));
      if (left.length > 0) throw new Error(`still running on the host: ${JSON.stringify(left)}`);
    }, 10_000);
    const events = await h.eventually(request.runId, ['audit.run.failed']);
    expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'failed', errorCode: 'EXECUTION_FAILED' });
    // The replica closed every pooled connection as it stopped.
    await eventually(async () => {
      if (h.sshd.openConnections() > 0) throw new Error(`${h.sshd.openConnections()} SSH connection(s) still open`);
    }, 10_000);
  });
});
