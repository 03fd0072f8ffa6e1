import { RunEventTypes } from '@rungate/contracts';
import { shellPrelude } from '@rungate/executors';
import { KubernetesHarness, NAMESPACE } from '../testing/executor-harness';
import { V4_SCRIPT_TRAILER } from './exec-status';

const SCRIPT = 'k8s/diagnose.runbook.sh';

/** Shell runbooks in a pod: pod choice, the exec protocol on the wire, output, exit codes, limits. */
describe('executor-kubernetes: shell runbooks in a pod (fake API server, real NATS)', () => {
  let h: KubernetesHarness;

  beforeAll(async () => {
    h = await KubernetesHarness.create('exec');
    const fake = h.server;
    // Sorted by name the first Ready one is toolbox-b: toolbox-a is not Ready, toolbox-0 is terminating.
    fake.addPod(NAMESPACE, { name: 'toolbox-a', labels: { app: 'toolbox', tier: 'ops' }, ready: false });
    fake.addPod(NAMESPACE, { name: 'toolbox-0', labels: { app: 'toolbox', tier: 'ops' }, terminating: true });
    fake.addPod(NAMESPACE, { name: 'toolbox-c', labels: { app: 'toolbox', tier: 'debug' } });
    fake.addPod(NAMESPACE, { name: 'toolbox-b', labels: { app: 'toolbox', tier: 'ops' }, containers: ['sidecar', 'shell'], annotations: { 'kubectl.kubernetes.io/default-container': 'shell' } });
    fake.addPod(NAMESPACE, { name: 'toolbox-x', labels: { app: 'toolbox', tier: 'prod' } });
    fake.addPod('other', { name: 'toolbox-0', labels: { app: 'toolbox', tier: 'ops' } });
    fake.addPod(NAMESPACE, { name: 'multi-0', labels: { app: 'multi' }, containers: ['app', 'tools'] });
    fake.addPod(NAMESPACE, { name: 'dropper-0', labels: { app: 'dropper' }, exec: 'drop' });
    fake.addPod(NAMESPACE, { name: 'garbler-0', labels: { app: 'garbler' }, exec: 'garbage' });
    await h.startReplica();
  });

  afterAll(async () => {
    await h?.close();
  });

  it('runs sh -s in the first Running, Ready pod the selector matches, the script on stdin, stdin closed (v5)', async () => {
    const body = 'echo "hello from $(hostname >/dev/null; echo pod)"\necho oops >&2\n';
    const request = h.sign(body, SCRIPT);
    const result = await h.exec(request);

    expect(result).toMatchObject({ runId: request.runId, status: 'succeeded', dryRun: false });
    expect(result.output).toEqual({ kind: 'process', exitCode: 0, stdout: 'hello from pod\n', stderr: 'oops\n', truncated: false });
    const list = h.server.requests.find((r) => r.path === `/api/v1/namespaces/${NAMESPACE}/pods`);
    expect(list?.query['labelSelector']).toEqual(['app=toolbox,tier in (ops, debug)']);
    expect(list?.authorization).toBe(`Bearer ${h.token}`);
    const exec = h.lastScriptExec();
    expect(exec).toMatchObject({ namespace: NAMESPACE, pod: 'toolbox-b', container: 'shell', command: ['sh', '-s'], protocol: 'v5.channel.k8s.io', stdinClosed: true, closedByClient: false });
    expect(exec.query).toMatchObject({ stdin: ['true'], stdout: ['true'], stderr: ['true'], tty: ['false'] });
    expect(exec.stdin.toString('utf8')).toBe(body);
  });

  it('delivers hostile asenv values byte for byte on stdin, never in the command line', async () => {
    const hostile = `it's "quoted" $(touch /tmp/rg-pwned) \`id\` \\ $HOME ; rm -rf / | & * ? [a] {b} ~ #\n\ttab ünïcödé 💥 '\\''`;
    const env = { TARGET: hostile, EMPTY: '' };
    const body = 'printf "%s" "$TARGET"; printf "|%s|" "$EMPTY"\n';
    const request = h.sign(body, SCRIPT, { env });
    const result = await h.exec(request);

    expect(result.output).toMatchObject({ exitCode: 0, stdout: `${hostile}||` });
    const exec = h.lastScriptExec();
    expect(exec.stdin.toString('utf8')).toBe(shellPrelude(env) + body);
    expect(exec.command).toEqual(['sh', '-s']);
    expect(JSON.stringify(h.server.requests.map((r) => r.query))).not.toContain('rg-pwned');
  });

  it('reports a non-zero exit code from the status channel as a failed run, audited with its exit code', async () => {
    const request = h.sign('echo partial\nexit 3\n', SCRIPT);
    const result = await h.exec(request);

    expect(result.status).toBe('failed');
    expect(result.output).toMatchObject({ kind: 'process', exitCode: 3, stdout: 'partial\n' });
    const events = await h.eventually(request.runId, [RunEventTypes.started, RunEventTypes.failed]);
    const failed = events.find((e) => e.type === RunEventTypes.failed);
    expect(failed?.outcome).toMatchObject({ status: 'failed', exitCode: 3 });
    expect(failed?.connection).toEqual({ name: 'cluster', type: 'kubernetes' });
  });

  it('keeps at most maxBytes of stdout and stderr together and says it truncated', async () => {
    const request = h.sign('i=0; while [ $i -lt 200 ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); done\n', SCRIPT, { connection: { name: 'small', type: 'kubernetes' } });
    const result = await h.exec(request);

    expect(result.output.kind).toBe('process');
    if (result.output.kind !== 'process') return;
    expect(result.output.exitCode).toBe(0);
    expect(result.output.truncated).toBe(true);
    expect(Buffer.byteLength(result.output.stdout) + Buffer.byteLength(result.output.stderr)).toBeLessThanOrEqual(64);
    const events = await h.eventually(request.runId, [RunEventTypes.completed]);
    expect(events.find((e) => e.type === RunEventTypes.completed)?.outcome?.truncated).toBe(true);
  });

  it('uses the connection\'s container when it names one', async () => {
    const result = await h.exec(h.sign('echo ok\n', SCRIPT, { connection: { name: 'cluster-tools', type: 'kubernetes' } }));

    expect(result.output).toMatchObject({ exitCode: 0, stdout: 'ok\n' });
    expect(h.lastScriptExec()).toMatchObject({ pod: 'multi-0', container: 'tools' });
  });

  it('runs .runbook.bash scripts with bash -s', async () => {
    const result = await h.exec(h.sign('echo "${BASH_VERSION:+bash}"\n', 'k8s/diagnose.runbook.bash'));

    expect(result.output).toMatchObject({ exitCode: 0, stdout: 'bash\n' });
    expect(h.lastScriptExec()?.command).toEqual(['bash', '-s']);
  });

  it('falls back to v4.channel.k8s.io: no stdin close exists, so a trailer makes the shell exit with the script\'s status', async () => {
    h.server.execProtocols = ['v4.channel.k8s.io'];
    try {
      // The warm session waiting since the last run was opened over v5; this run takes it, and the next one opens over v4.
      await h.exec(h.sign('true\n', SCRIPT));
      const body = 'echo via v4\nfalse';
      const result = await h.exec(h.sign(body, SCRIPT));

      expect(result.output).toMatchObject({ exitCode: 1, stdout: 'via v4\n' });
      const exec = h.lastScriptExec();
      expect(exec).toMatchObject({ protocol: 'v4.channel.k8s.io', stdinClosed: false, closedByClient: false });
      expect(exec.stdin.toString('utf8')).toBe(`${body}${V4_SCRIPT_TRAILER}`);
    } finally {
      h.server.execProtocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
    }
  });

  it('answers OUTCOME_UNKNOWN when the session ends without an exit status', async () => {
    const request = h.sign('echo maybe\n', SCRIPT, { connection: { name: 'dropper', type: 'kubernetes' } });
    const refusal = await h.refusal(request);

    expect(refusal.code).toBe('OUTCOME_UNKNOWN');
    expect(refusal.message).toContain('ended before the command reported an exit status');
    const events = await h.eventually(request.runId, [RunEventTypes.failed]);
    expect(events.find((e) => e.type === RunEventTypes.failed)?.outcome?.status).toBe('unknown');
  });

  it('ends the session, not the executor, when the API server sends a status that is not JSON', async () => {
    const refusal = await h.refusal(h.sign('echo hi\n', SCRIPT, { connection: { name: 'garbler', type: 'kubernetes' } }));
    const after = await h.exec(h.sign('echo still here\n', SCRIPT));

    expect(refusal.code).toBe('OUTCOME_UNKNOWN');
    expect(refusal.message).toContain('a frame the exec protocol does not allow');
    expect(after.output).toMatchObject({ exitCode: 0, stdout: 'still here\n' });
  });

  it('closes the exec session when the run exceeds its time limit and answers TIMEOUT', async () => {
    const request = h.sign('echo started\nsleep 30\necho never\n', SCRIPT, { limits: { timeoutMs: 700, maxRows: 1000, maxBytes: 1024 * 1024 } });
    const refusal = await h.refusal(request);

    expect(refusal.code).toBe('TIMEOUT');
    expect(refusal.message).toContain('exec session to pod toolbox-b');
    const exec = h.lastScriptExec();
    await exec.finished;
    expect(exec.closedByClient).toBe(true);
    const events = await h.eventually(request.runId, [RunEventTypes.failed]);
    expect(events.find((e) => e.type === RunEventTypes.failed)?.outcome).toMatchObject({ status: 'timed_out', errorCode: 'TIMEOUT' });
  });

  it('refuses a shell runbook on a connection without an exec selector, before touching the cluster', async () => {
    const before = h.server.requests.length;
    const refusal = await h.refusal(h.sign('echo hi\n', SCRIPT, { connection: { name: 'no-exec', type: 'kubernetes' } }));

    expect(refusal.code).toBe('EXECUTION_FAILED');
    expect(refusal.message).toContain('no exec.selector');
    expect(h.server.requests.length).toBe(before);
  });

  it('refuses a dry run of a shell runbook', async () => {
    const refusal = await h.refusal(h.sign('echo hi\n', SCRIPT, { dryRun: true }));

    expect(refusal.code).toBe('EXECUTION_FAILED');
    expect(refusal.message).toContain('cannot be dry-run');
  });

  it('answers TARGET_UNAVAILABLE when no pod is Running and Ready, naming nothing secret', async () => {
    const refusal = await h.refusal(h.sign('echo hi\n', SCRIPT, { connection: { name: 'nobody-home', type: 'kubernetes' } }));

    expect(refusal).toMatchObject({ code: 'TARGET_UNAVAILABLE' });
    expect(refusal.message).toContain('no Running and Ready pod in namespace team-a matches app=nothing-matches');
  });

  it('answers TARGET_UNAVAILABLE when the API server is down, and when it rejects the credentials', async () => {
    const down = await h.refusal(h.sign('echo hi\n', SCRIPT, { connection: { name: 'down', type: 'kubernetes' } }));
    const unauthorized = await h.refusal(h.sign('echo hi\n', SCRIPT, { connection: { name: 'wrong-token', type: 'kubernetes' } }));

    expect(down.code).toBe('TARGET_UNAVAILABLE');
    expect(down.message).toContain('ECONNREFUSED');
    expect(unauthorized.code).toBe('TARGET_UNAVAILABLE');
    expect(unauthorized.message).toContain('Unauthorized');
  });

  it('answers TARGET_UNAVAILABLE for a kubeconfig that does not parse, without quoting it', async () => {
    const refusal = await h.refusal(h.sign('echo hi\n', SCRIPT, { connection: { name: 'broken', type: 'kubernetes' } }));

    expect(refusal.code).toBe('TARGET_UNAVAILABLE');
    expect(refusal.message).toContain('kubeconfig');
    expect(refusal.message).not.toContain(h.token);
  });

  it('never lets the kubeconfig token reach a reply or an audit event', async () => {
    const request = h.sign('echo ok\n', SCRIPT);
    await h.exec(request);
    await h.eventually(request.runId, [RunEventTypes.completed]);

    expect(JSON.stringify(h.audit)).not.toContain(h.token);
  });
});
