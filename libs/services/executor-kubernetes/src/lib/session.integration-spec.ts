import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type KubernetesConnectionConfig } from '@rungate/config';
import { RunEventTypes, RungateError, type RunTicketClaims } from '@rungate/contracts';
import { KubernetesHarness, NAMESPACE } from '../testing/executor-harness';
import { KubeTargets } from './kube-targets';
import { KubernetesAdapter, type PreparedKubernetesRun } from './kubernetes.adapter';

const SCRIPT = 'k8s/touch.runbook.sh';
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * ADR 9 on Kubernetes: `open` looks the pod up and opens `sh -s` in it while the run is
 * admitted, sending nothing of the script; `abandon` closes that session so a run that does
 * not go ahead executed nothing; `cancel` during `open` is safe.
 */
describe('executor-kubernetes: the exec session opened ahead of the run (fake API server)', () => {
  let h: KubernetesHarness;
  let adapter: KubernetesAdapter;
  let connections: KubernetesConnectionConfig[];
  let dir: string;

  beforeAll(async () => {
    h = await KubernetesHarness.create('session');
    h.server.addPod(NAMESPACE, { name: 'toolbox-0', labels: { app: 'toolbox', tier: 'ops' } });
    h.server.addPod(NAMESPACE, { name: 'hangup-0', labels: { app: 'hangup' }, exec: 'hangup' });
    // The session each run opens for itself: warm sessions are tested in warm-sessions.integration-spec.ts.
    connections = parseConfig(readFileSync(h.configFile, 'utf8'))
      .connections.filter((c): c is KubernetesConnectionConfig => c.type === 'kubernetes')
      .map((c) => ({ ...c, warmSessions: 0 }));
    adapter = new KubernetesAdapter(new KubeTargets(quiet), quiet);
    dir = mkdtempSync(join(tmpdir(), 'rg-k8s-session-'));
    await h.startReplica();
  });

  afterAll(async () => {
    await adapter?.close();
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    h.server.execProtocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
    h.server.execUpgradeDelayMs = 0;
  });

  function prepare(body: string, overrides: Partial<RunTicketClaims> = {}, connection = 'cluster'): PreparedKubernetesRun {
    const config = connections.find((c) => c.name === connection);
    if (!config) throw new Error(`no connection ${connection}`);
    return adapter.prepare(h.claims(body, SCRIPT, { connection: { name: connection, type: 'kubernetes' }, ...overrides }), body, config);
  }

  function markerBody(name: string): { marker: string; body: string } {
    const marker = join(dir, name);
    return { marker, body: `touch ${marker}\necho touched\n` };
  }

  it.each(['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const)('open then abandon (%s): the exec session was opened, no byte reached its stdin, the body never ran', async (protocol) => {
    h.server.execProtocols = [protocol];
    const { marker, body } = markerBody(`abandoned-${protocol}`);
    const prepared = prepare(body);
    const execs = h.server.execs.length;

    await adapter.open(prepared, new AbortController().signal);
    // The session is open and `sh -s` waits on its stdin.
    expect(h.server.execs.length).toBe(execs + 1);
    await adapter.abandon(prepared);
    const exec = h.server.execs[execs];
    if (!exec) throw new Error('no exec session');
    await exec.finished;

    expect(exec).toMatchObject({ pod: 'toolbox-0', command: ['sh', '-s'], protocol, stdin: Buffer.alloc(0) });
    // v5 closes stdin before the socket: the shell reads end-of-input; v4 has no half-close, so the socket closes.
    if (protocol === 'v5.channel.k8s.io') expect(exec.stdinClosed).toBe(true);
    expect(existsSync(marker)).toBe(false);
    // Abandoning twice, and cancelling afterwards, is harmless.
    await adapter.abandon(prepared);
    await adapter.cancel(prepared);
  });

  it('runs the script in the session open set up, and runs it without open too', async () => {
    const opened = markerBody('opened');
    const prepared = prepare(opened.body);
    const signal = new AbortController().signal;
    await adapter.open(prepared, signal);
    const execs = h.server.execs.length;
    const output = await adapter.run(prepared, signal);

    expect(output).toMatchObject({ kind: 'process', exitCode: 0, stdout: 'touched\n' });
    // No second session: run used the one open set up.
    expect(h.server.execs.length).toBe(execs);
    expect(h.lastExec().stdin.toString('utf8')).toBe(opened.body);
    expect(existsSync(opened.marker)).toBe(true);

    const direct = markerBody('direct');
    const unopened = prepare(direct.body);
    expect(await adapter.run(unopened, signal)).toMatchObject({ exitCode: 0, stdout: 'touched\n' });
    expect(existsSync(direct.marker)).toBe(true);
  });

  it('cancel while open lists the pods or waits on the exec handshake: open settles at once, nothing was executed, abandon is safe', async () => {
    const { marker, body } = markerBody('cancelled');
    // During the pod list.
    const listing = prepare(body);
    const listOpen = adapter.open(listing, new AbortController().signal);
    await adapter.cancel(listing);
    await expect(listOpen).rejects.toThrow(/nothing was executed/);
    await adapter.abandon(listing);

    // During the WebSocket handshake, which the server answers late.
    h.server.execUpgradeDelayMs = 1500;
    const execs = h.server.execs.length;
    const handshaking = prepare(body);
    const opening = adapter.open(handshaking, new AbortController().signal).then(
      () => null,
      (error: unknown) => error,
    );
    // The pod list is answered at once; the upgrade request is then on its way.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const cancelledAt = performance.now();
    await adapter.cancel(handshaking);
    await adapter.cancel(handshaking);
    const failure = await opening;
    const settledMs = performance.now() - cancelledAt;
    await adapter.abandon(handshaking);

    expect(failure).toBeInstanceOf(RungateError);
    expect(failure).toMatchObject({ code: 'EXECUTION_FAILED' });
    expect((failure as Error).message).toContain('nothing was executed');
    expect(settledMs).toBeLessThan(1000);
    // run is never called after a failed open; were it called, it would not reopen a cancelled run.
    await expect(adapter.run(handshaking, new AbortController().signal)).rejects.toThrow(/nothing was executed/);
    await new Promise((resolve) => setTimeout(resolve, 1700));
    expect(h.server.execs.slice(execs).every((exec) => exec.stdin.length === 0)).toBe(true);
    expect(existsSync(marker)).toBe(false);
  });

  it('a session the API server closes before the script is sent fails the run with nothing executed', async () => {
    const { marker, body } = markerBody('hung-up');
    const prepared = prepare(body, {}, 'hangup');
    const signal = new AbortController().signal;
    await adapter.open(prepared, signal);
    const exec = h.lastExec();
    await exec.finished;
    const failure = await adapter.run(prepared, signal).then(
      () => null,
      (error: unknown) => error,
    );

    expect(failure).toMatchObject({ code: 'TARGET_UNAVAILABLE' });
    expect((failure as Error).message).toContain('ended before the script was sent');
    expect((failure as Error).message).toContain('nothing was executed');
    expect(exec).toMatchObject({ pod: 'hangup-0', stdin: Buffer.alloc(0) });
    expect(existsSync(marker)).toBe(false);
  });

  it('through the executor, a run that times out while its session opens executed nothing and says so', async () => {
    h.server.execUpgradeDelayMs = 2000;
    const { marker, body } = markerBody('timed-out');
    const request = h.sign(body, SCRIPT, { limits: { timeoutMs: 400, maxRows: 1000, maxBytes: 1024 * 1024 } });
    const execs = h.server.execs.length;
    const startedAt = performance.now();
    const refusal = await h.refusal(request);
    const tookMs = performance.now() - startedAt;

    expect(refusal.code).toBe('TIMEOUT');
    expect(refusal.message).toContain('nothing was executed');
    expect(tookMs).toBeLessThan(1500);
    const events = await h.eventually(request.runId, [RunEventTypes.started, RunEventTypes.failed]);
    expect(events.find((e) => e.type === RunEventTypes.failed)?.outcome).toMatchObject({ status: 'timed_out', errorCode: 'TIMEOUT' });
    await new Promise((resolve) => setTimeout(resolve, 2200));
    expect(h.server.execs.slice(execs).every((exec) => exec.stdin.length === 0)).toBe(true);
    expect(existsSync(marker)).toBe(false);
  });
});
