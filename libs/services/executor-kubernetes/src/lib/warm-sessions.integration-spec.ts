import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type KubernetesConnectionConfig } from '@rungate/config';
import type { RunTicketClaims } from '@rungate/contracts';
import { eventually } from '@rungate/testing';
import { KubernetesHarness, NAMESPACE } from '../testing/executor-harness';
import type { RecordedExec } from '../testing/fake-api-server';
import { V4_SCRIPT_TRAILER } from './exec-status';
import { KubeTargets } from './kube-targets';
import { KubernetesAdapter, type KubernetesAdapterOptions, type PreparedKubernetesRun } from './kubernetes.adapter';

const SCRIPT = 'k8s/warm.runbook.sh';
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * Warm exec sessions: `sh -s` opened in a pod ahead of the run that will use it, so a run's
 * `open` takes it instead of listing pods and handshaking. Seen from the API server: which
 * exec connections exist, when they opened, and what reached their stdin.
 */
describe('executor-kubernetes: warm exec sessions (fake API server)', () => {
  let h: KubernetesHarness;
  let base: KubernetesConnectionConfig;
  let dir: string;
  const adapters: KubernetesAdapter[] = [];

  beforeAll(async () => {
    h = await KubernetesHarness.create('warm');
    h.server.addPod(NAMESPACE, { name: 'toolbox-0', labels: { app: 'toolbox', tier: 'ops' } });
    for (const app of ['gone', 'drop', 'race', 'term', 'cold', 'shut', 'aged', 'conf', 'old', 'abandon']) {
      h.server.addPod(NAMESPACE, { name: `${app}-0`, labels: { app } });
      h.server.addPod(NAMESPACE, { name: `${app}-1`, labels: { app } });
    }
    const cluster = parseConfig(readFileSync(h.configFile, 'utf8')).connections.find((c): c is KubernetesConnectionConfig => c.type === 'kubernetes' && c.name === 'cluster');
    if (!cluster) throw new Error('no connection cluster');
    base = cluster;
    dir = mkdtempSync(join(tmpdir(), 'rg-k8s-warm-'));
  });

  afterAll(async () => {
    for (const adapter of adapters) await adapter.close();
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    h.server.execProtocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
    h.server.execUpgradeDelayMs = 0;
  });

  function newAdapter(options: KubernetesAdapterOptions = {}): KubernetesAdapter {
    const adapter = new KubernetesAdapter(new KubeTargets(quiet), quiet, options);
    adapters.push(adapter);
    return adapter;
  }

  function connection(app: string, overrides: Partial<KubernetesConnectionConfig> = {}): KubernetesConnectionConfig {
    return { ...base, name: `warm-${app}`, exec: { selector: `app=${app}` }, ...overrides };
  }

  function prepare(adapter: KubernetesAdapter, config: KubernetesConnectionConfig, body: string, overrides: Partial<RunTicketClaims> = {}): PreparedKubernetesRun {
    return adapter.prepare(h.claims(body, SCRIPT, { connection: { name: config.name, type: 'kubernetes' }, ...overrides }), body, config);
  }

  /** open, then run, as the pipeline does once the run is admitted. */
  async function run(adapter: KubernetesAdapter, config: KubernetesConnectionConfig, body: string) {
    const prepared = prepare(adapter, config, body);
    const signal = new AbortController().signal;
    await adapter.open(prepared, signal);
    return adapter.run(prepared, signal);
  }

  /** Exec sessions into these pods that are open with nothing on their stdin: warm ones. */
  function idle(prefix: string): RecordedExec[] {
    return h.server.execs.filter((e) => e.pod.startsWith(prefix) && !e.done && e.stdin.length === 0);
  }

  /** Waits for the server to hold `count` warm sessions into these pods, and for the executor to have them too. */
  async function waitForIdle(prefix: string, count: number): Promise<RecordedExec[]> {
    const open = await eventually(async () => {
      const open = idle(prefix);
      if (open.length !== count) throw new Error(`${open.length} idle exec sessions into ${prefix}*, expected ${count}`);
      return open;
    }, 5000, 20);
    // The server answers the upgrade a moment before the executor's side of the socket is open.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return open;
  }

  /** The server has ended a session; its end reaches the executor's socket a moment later. */
  async function endedOnBothSides(exec: RecordedExec | undefined): Promise<void> {
    await exec?.finished;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  function appender(name: string): { file: string; body: (line: string) => string } {
    const file = join(dir, name);
    return { file, body: (line) => `echo ${line} >> ${file}\necho ${line}\n` };
  }

  it('through the executor: the second run takes the warm session opened before its request; each run then opens exactly one exec connection, for the next', async () => {
    await h.startReplica();
    const first = await h.exec(h.sign('echo first\n', SCRIPT));
    expect(first.output).toMatchObject({ exitCode: 0, stdout: 'first\n' });
    const [warm] = await waitForIdle('toolbox-', 1);
    if (!warm) throw new Error('no warm session');

    for (let i = 0; i < 4; i++) {
      const execsBefore = h.server.execs.length;
      const listsBefore = h.server.requests.filter((r) => r.path.endsWith('/pods')).length;
      const [waiting] = await waitForIdle('toolbox-', 1);
      const sentAt = performance.now();
      const result = await h.exec(h.sign(`echo run ${i}\n`, SCRIPT));

      expect(result.output).toMatchObject({ exitCode: 0, stdout: `run ${i}\n` });
      const used = h.lastScriptExec();
      // The session the script went to was open before the run was even requested; the script came after.
      expect(used).toBe(waiting);
      expect(used.openedAt).toBeLessThan(sentAt);
      expect(used.firstStdinAt).toBeGreaterThan(sentAt);
      expect(used).toMatchObject({ command: ['sh', '-s'], stdin: Buffer.from(`echo run ${i}\n`), stdinClosed: true, closedByClient: false });
      // Steady state: one new exec connection per run, the next run's warm session.
      await waitForIdle('toolbox-', 1);
      const opened = h.server.execs.slice(execsBefore);
      expect(opened).toHaveLength(1);
      expect(opened[0]?.openedAt).toBeGreaterThan(sentAt);
      // The run itself listed no pods: the one list is the next warm session's.
      expect(h.server.requests.filter((r) => r.path.endsWith('/pods')).length - listsBefore).toBe(1);
    }
  });

  it('a warm session whose pod is deleted, or whose stream the server drops, is discarded; the run succeeds once on a fresh session', async () => {
    const adapter = newAdapter();
    const gone = connection('gone');
    const log = appender('gone');
    expect(await run(adapter, gone, log.body('a'))).toMatchObject({ exitCode: 0, stdout: 'a\n' });
    const [onDeleted] = await waitForIdle('gone-', 1);
    expect(onDeleted?.pod).toBe('gone-0');

    // Deleted through the API: the kubelet kills the container and the exec stream ends.
    const deleted = await fetch(`${h.server.url}/api/v1/namespaces/${NAMESPACE}/pods/gone-0`, { method: 'DELETE', headers: { Authorization: `Bearer ${h.token}` } });
    expect(deleted.status).toBe(200);
    await endedOnBothSides(onDeleted);
    expect(await run(adapter, gone, log.body('b'))).toMatchObject({ exitCode: 0, stdout: 'b\n' });
    expect(h.lastScriptExec().pod).toBe('gone-1');
    expect(onDeleted?.stdin.length).toBe(0);

    // Dropped by the server, without a status: a lost connection.
    const [onDropped] = await waitForIdle('gone-', 1);
    h.server.dropExecs('gone-1');
    await endedOnBothSides(onDropped);
    expect(await run(adapter, gone, log.body('c'))).toMatchObject({ exitCode: 0, stdout: 'c\n' });
    expect(onDropped?.stdin.length).toBe(0);
    expect(h.lastScriptExec()).not.toBe(onDropped);
    expect(readFileSync(log.file, 'utf8')).toBe('a\nb\nc\n');
  });

  it('a warm session taken by open and lost before run is replaced by a fresh one; nothing reached the lost one', async () => {
    const adapter = newAdapter();
    const race = connection('race');
    const log = appender('race');
    await run(adapter, race, log.body('a'));
    const [taken] = await waitForIdle('race-', 1);

    const prepared = prepare(adapter, race, log.body('b'));
    const signal = new AbortController().signal;
    await adapter.open(prepared, signal);
    // Lost while the run id is claimed and started acked.
    h.server.dropExecs('race-0');
    await endedOnBothSides(taken);
    const output = await adapter.run(prepared, signal);

    expect(output).toMatchObject({ exitCode: 0, stdout: 'b\n' });
    expect(taken?.stdin.length).toBe(0);
    expect(h.lastScriptExec()).not.toBe(taken);
    expect(readFileSync(log.file, 'utf8')).toBe('a\nb\n');
  });

  it('a warm session older than the recheck age is used only if its pod is still Running and Ready: a terminating pod\'s is closed unused', async () => {
    const adapter = newAdapter({ warmRecheckAfterMs: 0 });
    const term = connection('term');
    await run(adapter, term, 'echo a\n');
    const [spare] = await waitForIdle('term-', 1);
    expect(spare?.pod).toBe('term-0');
    // Graceful deletion: the pod is Terminating, its exec sessions still work.
    h.server.markTerminating(NAMESPACE, 'term-0');
    const requests = h.server.requests.length;

    expect(await run(adapter, term, 'echo b\n')).toMatchObject({ exitCode: 0, stdout: 'b\n' });
    expect(h.lastScriptExec().pod).toBe('term-1');
    await spare?.finished;
    expect(spare).toMatchObject({ stdin: Buffer.alloc(0), stdinClosed: true });
    // The check: one pod list narrowed to the warm session's pod.
    expect(h.server.requests.slice(requests)[0]?.query).toMatchObject({ labelSelector: ['app=term'], fieldSelector: ['metadata.name=term-0'] });

    // A pod that is still fine keeps its warm session after the check.
    const [next] = await waitForIdle('term-', 1);
    expect(await run(adapter, term, 'echo c\n')).toMatchObject({ exitCode: 0, stdout: 'c\n' });
    expect(h.lastScriptExec()).toBe(next);
  });

  it('warmSessions: 0 keeps none: every run opens its own session, and nothing stays open', async () => {
    const adapter = newAdapter();
    const cold = connection('cold', { warmSessions: 0 });
    for (const line of ['a', 'b', 'c']) {
      const execs = h.server.execs.length;
      expect(await run(adapter, cold, `echo ${line}\n`)).toMatchObject({ exitCode: 0, stdout: `${line}\n` });
      expect(h.server.execs.slice(execs).filter((e) => e.pod.startsWith('cold-'))).toHaveLength(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(h.server.execs.filter((e) => e.pod.startsWith('cold-') && !e.done)).toHaveLength(0);
  });

  it('close() closes the warm sessions (stdin first, nothing ran) and those still opening: the server is left with no exec connection', async () => {
    const adapter = newAdapter();
    const shut = connection('shut', { warmSessions: 2 });
    await run(adapter, shut, 'echo a\n');
    const spares = await waitForIdle('shut-', 2);
    // Another key whose warm session is still in its handshake when close() is called.
    await run(adapter, connection('old'), 'echo a\n');
    await waitForIdle('old-', 1);
    h.server.execUpgradeDelayMs = 400;
    await run(adapter, connection('old'), 'echo b\n');
    await new Promise((resolve) => setTimeout(resolve, 100));

    await adapter.close();
    await Promise.all(spares.map((s) => s.finished));
    for (const spare of spares) expect(spare).toMatchObject({ stdin: Buffer.alloc(0), stdinClosed: true });
    expect(h.server.execs.filter((e) => !e.done && (e.pod.startsWith('shut-') || e.pod.startsWith('old-')))).toHaveLength(0);
    // The handshake that was in flight would be answered after close(): it is not, and nothing stays open.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(h.server.execs.filter((e) => !e.done && (e.pod.startsWith('shut-') || e.pod.startsWith('old-')))).toHaveLength(0);
  });

  it('closes a warm session unused for the maximum idle age and opens none until the next run', async () => {
    const adapter = newAdapter({ warmMaxIdleMs: 300 });
    const aged = connection('aged');
    await run(adapter, aged, 'echo a\n');
    const [spare] = await waitForIdle('aged-', 1);
    await spare?.finished;
    expect(spare).toMatchObject({ stdin: Buffer.alloc(0), stdinClosed: true });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(idle('aged-')).toHaveLength(0);

    const lists = h.server.requests.filter((r) => r.query['labelSelector']?.[0] === 'app=aged').length;
    expect(await run(adapter, aged, 'echo b\n')).toMatchObject({ exitCode: 0, stdout: 'b\n' });
    expect(h.lastScriptExec()).not.toBe(spare);
    // The run listed pods itself (and the new warm session its own).
    expect(h.server.requests.filter((r) => r.query['labelSelector']?.[0] === 'app=aged').length).toBeGreaterThan(lists);
  });

  it('a changed connection closes its warm sessions; the run uses the new configuration', async () => {
    const adapter = newAdapter();
    const before = connection('conf');
    await run(adapter, before, 'echo a\n');
    const [spare] = await waitForIdle('conf-', 1);

    const after = { ...before, maxBytes: 4 };
    const output = await run(adapter, after, 'echo abcdefgh\n');
    await spare?.finished;
    expect(spare).toMatchObject({ stdin: Buffer.alloc(0), stdinClosed: true });
    expect(output).toMatchObject({ exitCode: 0, stdout: 'abcd', truncated: true });
    expect(h.lastScriptExec()).not.toBe(spare);
  });

  it('open then abandon on a warm session sends it nothing; v4 warm sessions get the script and its trailer', async () => {
    const adapter = newAdapter();
    const config = connection('abandon');
    const log = appender('abandoned');
    await run(adapter, config, 'echo a\n');
    const [taken] = await waitForIdle('abandon-', 1);
    const prepared = prepare(adapter, config, log.body('never'));
    await adapter.open(prepared, new AbortController().signal);
    await adapter.abandon(prepared);
    await taken?.finished;
    expect(taken).toMatchObject({ stdin: Buffer.alloc(0), stdinClosed: true });
    expect(existsSync(log.file)).toBe(false);

    // The replacement opened after the take; from now on the cluster speaks v4 only.
    const [v5] = await waitForIdle('abandon-', 1);
    h.server.execProtocols = ['v4.channel.k8s.io'];
    await run(adapter, config, 'echo b\n');
    expect(h.lastScriptExec()).toBe(v5);
    const [v4] = await waitForIdle('abandon-', 1);
    expect(v4?.protocol).toBe('v4.channel.k8s.io');
    const body = 'echo via v4\nfalse';
    expect(await run(adapter, config, body)).toMatchObject({ exitCode: 1, stdout: 'via v4\n' });
    expect(h.lastScriptExec()).toBe(v4);
    expect(v4?.stdin.toString('utf8')).toBe(`${body}${V4_SCRIPT_TRAILER}`);
  });

  it('once every adapter and executor replica has closed, the API server has no exec connection left open', async () => {
    expect(h.server.openExecConnections()).toBeGreaterThan(0);
    for (const adapter of adapters.splice(0)) await adapter.close();
    for (const service of h.services.splice(0)) await service.close();

    // The sockets close first; each pod's `sh -s` then reads end-of-file and exits.
    await eventually(async () => {
      if (h.server.openExecConnections() !== 0) throw new Error(`${h.server.openExecConnections()} exec connections still open`);
      const running = h.server.execs.filter((e) => !e.done);
      if (running.length > 0) throw new Error(`${running.length} exec commands still running`);
    }, 5000, 20);
  });
});
