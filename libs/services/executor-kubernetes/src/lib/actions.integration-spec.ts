import { RunEventTypes } from '@rungate/contracts';
import { KubernetesHarness, NAMESPACE } from '../testing/executor-harness';

const ACTION = 'k8s/scale-web.runbook.yaml';

const scale = (name: string, replicas: string, kind = 'Deployment') => `# @description scale ${name}
apiVersion: rungate.dev/v1
kind: Action
action: scale
target: { kind: ${kind}, name: ${name} }
replicas: ${replicas}
`;

const restart = (name: string, kind = 'Deployment') => `apiVersion: rungate.dev/v1
kind: Action
action: restart
target:
  kind: ${kind}
  name: ${name}
`;

/** The Action document: scale through the scale subresource, restart through the pod template's annotation. */
describe('executor-kubernetes: scale and restart actions (fake API server, real NATS)', () => {
  let h: KubernetesHarness;

  beforeAll(async () => {
    h = await KubernetesHarness.create('actions');
    h.server.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: NAMESPACE }, spec: { replicas: 2, template: { metadata: { labels: { app: 'web' } } } } });
    h.server.seed({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: NAMESPACE }, spec: { replicas: 3, template: { metadata: { labels: { app: 'db' } } } } });
    h.server.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'held', namespace: NAMESPACE }, spec: { replicas: 1, paused: true } });
    await h.startReplica();
  });

  afterAll(async () => {
    await h?.close();
  });

  it('scales through the scale subresource with a merge patch, reading the current replicas first', async () => {
    const since = h.server.requests.length;
    // Rendered parameters arrive as quoted YAML scalars: "5" is accepted as a count.
    const request = h.sign(scale('web', '"5"'), ACTION, { params: { replicas: '5' } });
    const result = await h.exec(request);

    expect(result.output).toEqual({ kind: 'process', exitCode: 0, stdout: 'deployment.apps/web scaled from 2 to 5 replicas\n', stderr: '', truncated: false });
    const requests = h.server.requests.slice(since).map((r) => [r.method, r.path, r.contentType, r.query, r.body]);
    expect(requests).toEqual([
      ['GET', `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/web/scale`, undefined, {}, ''],
      ['PATCH', `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/web/scale`, 'application/merge-patch+json', { fieldManager: ['rungate'] }, '{"spec":{"replicas":5}}'],
    ]);
    expect(h.server.object('Deployment', NAMESPACE, 'web')).toMatchObject({ spec: { replicas: 5 } });
    const events = await h.eventually(request.runId, [RunEventTypes.completed]);
    expect(events.find((e) => e.type === RunEventTypes.completed)?.params).toEqual({ replicas: '5' });
  });

  it('scales a StatefulSet as a dry run: dryRun=All, nothing changes', async () => {
    const since = h.server.requests.length;
    const result = await h.exec(h.sign(scale('db', '0', 'StatefulSet'), ACTION, { dryRun: true }));

    expect(result).toMatchObject({ status: 'succeeded', dryRun: true });
    expect(result.output).toMatchObject({ exitCode: 0, stdout: 'statefulset.apps/db scaled from 3 to 0 replicas (server dry run)\n' });
    expect(h.server.requests.slice(since).find((r) => r.method === 'PATCH')?.query).toEqual({ dryRun: ['All'], fieldManager: ['rungate'] });
    expect(h.server.object('StatefulSet', NAMESPACE, 'db')).toMatchObject({ spec: { replicas: 3 } });
  });

  it('says unchanged when the workload already has that many replicas', async () => {
    const result = await h.exec(h.sign(scale('db', '3', 'StatefulSet'), ACTION));

    expect(result.output).toMatchObject({ exitCode: 0, stdout: 'statefulset.apps/db unchanged (already 3 replicas)\n' });
  });

  it('restarts by stamping kubectl.kubernetes.io/restartedAt on the pod template (strategic merge patch)', async () => {
    const since = h.server.requests.length;
    const result = await h.exec(h.sign(restart('web'), 'k8s/restart-web.runbook.yaml'));

    expect(result.output).toMatchObject({ exitCode: 0, stdout: 'deployment.apps/web restarted\n', stderr: '' });
    const patch = h.server.requests.slice(since).find((r) => r.method === 'PATCH');
    expect(patch).toMatchObject({ path: `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/web`, contentType: 'application/strategic-merge-patch+json', query: { fieldManager: ['rungate'] } });
    const stamp = JSON.parse(patch?.body ?? '{}').spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'];
    expect(stamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(h.server.object('Deployment', NAMESPACE, 'web')).toMatchObject({ spec: { replicas: 5, template: { metadata: { labels: { app: 'web' }, annotations: { 'kubectl.kubernetes.io/restartedAt': stamp } } } } });
  });

  it('restarts a paused Deployment but says its pods roll only once it is resumed', async () => {
    const result = await h.exec(h.sign(restart('held'), 'k8s/restart-held.runbook.yaml'));

    expect(result.output).toMatchObject({ exitCode: 0, stdout: 'deployment.apps/held restarted\n', stderr: 'deployment.apps/held is paused: its pods roll when the rollout is resumed\n' });
  });

  it('answers EXECUTION_FAILED with the API server\'s reason for a workload that does not exist; nothing changed', async () => {
    const refusal = await h.refusal(h.sign(scale('ghost', '1'), ACTION));

    expect(refusal.code).toBe('EXECUTION_FAILED');
    expect(refusal.message).toBe('reading the scale of deployment.apps/ghost: Error from server (NotFound): deployments.apps "ghost" not found; nothing was changed');
  });

  it('refuses an Action whose target names another namespace, an invalid Action, and an Action among manifests — before any request', async () => {
    const since = h.server.requests.length;
    const escape = await h.refusal(h.sign(restart('web').replace('  name: web', '  name: web\n  namespace: kube-system'), ACTION));
    const invalid = await h.refusal(h.sign(scale('web', '-1'), ACTION));
    const noReplicas = await h.refusal(h.sign('apiVersion: rungate.dev/v1\nkind: Action\naction: scale\ntarget: { kind: Deployment, name: web }\n', ACTION));
    const mixed = await h.refusal(h.sign(`${restart('web')}---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n`, ACTION));
    const daemonSet = await h.refusal(h.sign(restart('agents', 'DaemonSet'), ACTION));

    expect(escape.message).toContain('names namespace "kube-system", but this connection acts only in namespace "team-a"');
    expect(invalid.message).toContain('replicas');
    expect(noReplicas.message).toContain('replicas');
    expect(mixed.message).toContain('must be the only document');
    expect(daemonSet.message).toContain('target.kind');
    for (const refusal of [escape, invalid, noReplicas, mixed, daemonSet]) expect(refusal.code).toBe('EXECUTION_FAILED');
    expect(h.server.requests.length).toBe(since);
  });
});
