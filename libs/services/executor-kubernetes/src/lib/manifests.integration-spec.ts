import { RunEventTypes } from '@rungate/contracts';
import { KubernetesHarness, NAMESPACE } from '../testing/executor-harness';

const MANIFEST = 'k8s/web.runbook.yaml';

const configMap = (value: string, extra = '') => `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-settings
${extra}data:
  mode: "${value}"
`;

const deployment = (image: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: { app: web }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: ${image}
`;

/** Manifest runbooks: server-side apply and delete on the wire, outcomes, dry runs, the namespace boundary. */
describe('executor-kubernetes: manifests (fake API server, real NATS)', () => {
  let h: KubernetesHarness;

  beforeAll(async () => {
    h = await KubernetesHarness.create('manifests');
    await h.startReplica();
  });

  afterAll(async () => {
    await h?.close();
  });

  it('server-side applies every document (PATCH apply-patch+yaml, fieldManager=rungate, never force) and reports created', async () => {
    const body = `# @description web and its settings\n${configMap('fast')}---\n${deployment('nginx:1.27')}`;
    const since = h.server.requests.length;
    const request = h.sign(body, MANIFEST);
    const result = await h.exec(request);

    expect(result).toMatchObject({ status: 'succeeded', dryRun: false });
    expect(result.output).toEqual({ kind: 'process', exitCode: 0, stdout: 'configmap/web-settings created\ndeployment.apps/web created\n', stderr: '', truncated: false });
    const patches = h.server.requests.slice(since).filter((r) => r.method === 'PATCH');
    expect(patches.map((p) => p.path)).toEqual([`/api/v1/namespaces/${NAMESPACE}/configmaps/web-settings`, `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/web`]);
    for (const patch of patches) {
      expect(patch.contentType).toBe('application/apply-patch+yaml');
      expect(patch.query).toEqual({ fieldManager: ['rungate'] });
      expect(patch.status).toBe(201);
    }
    expect(JSON.parse(patches[1]?.body ?? '{}')).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 2 } });
    expect(h.server.object('Deployment', NAMESPACE, 'web')).toMatchObject({ metadata: { namespace: NAMESPACE, managedFields: [{ manager: 'rungate' }] }, spec: { replicas: 2 } });
    const events = await h.eventually(request.runId, [RunEventTypes.started, RunEventTypes.completed]);
    expect(events.find((e) => e.type === RunEventTypes.completed)?.outcome).toMatchObject({ status: 'succeeded', exitCode: 0, dryRun: false });
  });

  it('reports unchanged when applying the same objects again, and configured when a value changed', async () => {
    const same = await h.exec(h.sign(`${configMap('fast')}---\n${deployment('nginx:1.27')}`, MANIFEST));
    const changed = await h.exec(h.sign(`${configMap('fast')}---\n${deployment('nginx:1.28')}`, MANIFEST));

    expect(same.output).toMatchObject({ exitCode: 0, stdout: 'configmap/web-settings unchanged\ndeployment.apps/web unchanged\n' });
    expect(changed.output).toMatchObject({ exitCode: 0, stdout: 'configmap/web-settings unchanged\ndeployment.apps/web configured\n' });
    expect(h.server.object('Deployment', NAMESPACE, 'web')).toMatchObject({ spec: { template: { spec: { containers: [{ image: 'nginx:1.28' }] } } } });
  });

  it('reports unchanged for an object another manager created with the same values (only field ownership changes)', async () => {
    h.server.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'shared', namespace: NAMESPACE }, data: { level: 'info' } }, 'kubectl-client-side-apply');
    const result = await h.exec(h.sign('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: shared }\ndata: { level: "info" }\n', MANIFEST));

    expect(result.output).toMatchObject({ exitCode: 0, stdout: 'configmap/shared unchanged\n' });
  });

  it('dry run: dryRun=All on every write, nothing stored, each line says so', async () => {
    const since = h.server.requests.length;
    const request = h.sign(`${configMap('slow')}---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: brand-new }\ndata: { a: "1" }\n`, MANIFEST, { dryRun: true });
    const result = await h.exec(request);

    expect(result).toMatchObject({ status: 'succeeded', dryRun: true });
    expect(result.output).toMatchObject({ exitCode: 0, stdout: 'configmap/web-settings configured (server dry run)\nconfigmap/brand-new created (server dry run)\n' });
    const writes = h.server.requests.slice(since).filter((r) => r.method !== 'GET');
    expect(writes).toHaveLength(2);
    for (const write of writes) expect(write.query['dryRun']).toEqual(['All']);
    expect(h.server.object('ConfigMap', NAMESPACE, 'web-settings')).toMatchObject({ data: { mode: 'fast' } });
    expect(h.server.object('ConfigMap', NAMESPACE, 'brand-new')).toBeUndefined();
    const events = await h.eventually(request.runId, [RunEventTypes.completed]);
    expect(events.find((e) => e.type === RunEventTypes.completed)?.outcome?.dryRun).toBe(true);
  });

  it('refuses a document naming another namespace before sending anything', async () => {
    const since = h.server.requests.length;
    const request = h.sign(`${configMap('x')}---\n${configMap('y', '  namespace: kube-system\n').replace('web-settings', 'escape')}`, MANIFEST);
    const refusal = await h.refusal(request);

    expect(refusal.code).toBe('EXECUTION_FAILED');
    expect(refusal.message).toContain('names namespace "kube-system", but this connection acts only in namespace "team-a"');
    expect(refusal.message).toContain('nothing was applied');
    expect(h.server.requests.length).toBe(since);
    const events = await h.eventually(request.runId, [RunEventTypes.failed]);
    expect(events.map((e) => e.type)).toEqual([RunEventTypes.failed]);
    expect(events[0]?.outcome).toMatchObject({ status: 'refused', errorCode: 'EXECUTION_FAILED' });
  });

  it('refuses cluster-scoped kinds (found by discovery) before any write, even after allowed documents', async () => {
    const since = h.server.requests.length;
    const body = `${configMap('z')}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: { name: everything }\nrules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }]\n`;
    const refusal = await h.refusal(h.sign(body, MANIFEST));

    expect(refusal.code).toBe('EXECUTION_FAILED');
    expect(refusal.message).toContain('clusterrole.rbac.authorization.k8s.io/everything) is cluster-scoped');
    expect(h.server.requests.slice(since).filter((r) => r.method !== 'GET')).toEqual([]);
    expect(h.server.object('ConfigMap', NAMESPACE, 'web-settings')).toMatchObject({ data: { mode: 'fast' } });
  });

  it('refuses a kind the cluster does not serve before any write', async () => {
    const refusal = await h.refusal(h.sign('apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w }\n', MANIFEST));

    expect(refusal.code).toBe('EXECUTION_FAILED');
    expect(refusal.message).toContain('apiVersion example.com/v1 is not served');
  });

  it('does not force a conflict: the field another manager owns is reported, exit code 1, later objects not sent', async () => {
    h.server.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: NAMESPACE }, spec: { replicas: 5 } }, 'horizontal-pod-autoscaler');
    const since = h.server.requests.length;
    const body = `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: api-settings }\ndata: { a: "1" }\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: { name: api }\nspec: { replicas: 2 }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: after-api }\ndata: { b: "2" }\n`;
    const request = h.sign(body, MANIFEST);
    const result = await h.exec(request);

    expect(result.status).toBe('failed');
    expect(result.output).toMatchObject({ exitCode: 1, stdout: 'configmap/api-settings created\n' });
    if (result.output.kind !== 'process') return;
    expect(result.output.stderr).toContain('Error from server (Conflict): Apply failed with 1 conflict: conflict with "horizontal-pod-autoscaler": .spec.replicas');
    expect(result.output.stderr).toContain('Rungate does not force conflicts');
    expect(result.output.stderr).toContain('1 later object(s) not applied');
    const patches = h.server.requests.slice(since).filter((r) => r.method === 'PATCH');
    expect(patches.map((p) => p.query['force'])).toEqual([undefined, undefined]);
    expect(h.server.object('Deployment', NAMESPACE, 'api')).toMatchObject({ spec: { replicas: 5 } });
    expect(h.server.object('ConfigMap', NAMESPACE, 'after-api')).toBeUndefined();
    const events = await h.eventually(request.runId, [RunEventTypes.failed]);
    expect(events.find((e) => e.type === RunEventTypes.failed)?.outcome).toMatchObject({ status: 'failed', exitCode: 1 });
  });

  it('@action delete deletes the named objects in order (background propagation) and says which were already gone', async () => {
    h.server.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'old-a', namespace: NAMESPACE }, data: {} });
    const since = h.server.requests.length;
    const body = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: old-a }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: old-b }\n';
    const dry = await h.exec(h.sign(body, MANIFEST, { action: 'delete', dryRun: true }));
    expect(h.server.object('ConfigMap', NAMESPACE, 'old-a')).toBeDefined();
    const result = await h.exec(h.sign(body, MANIFEST, { action: 'delete' }));

    expect(dry.output).toMatchObject({ exitCode: 0, stdout: 'configmap/old-a deleted (server dry run)\nconfigmap/old-b not found (server dry run)\n' });
    expect(result.output).toMatchObject({ exitCode: 0, stdout: 'configmap/old-a deleted\nconfigmap/old-b not found\n' });
    const deletes = h.server.requests.slice(since).filter((r) => r.method === 'DELETE');
    expect(deletes.map((d) => [d.path, d.query])).toEqual([
      [`/api/v1/namespaces/${NAMESPACE}/configmaps/old-a`, { dryRun: ['All'], propagationPolicy: ['Background'] }],
      [`/api/v1/namespaces/${NAMESPACE}/configmaps/old-b`, { dryRun: ['All'], propagationPolicy: ['Background'] }],
      [`/api/v1/namespaces/${NAMESPACE}/configmaps/old-a`, { propagationPolicy: ['Background'] }],
      [`/api/v1/namespaces/${NAMESPACE}/configmaps/old-b`, { propagationPolicy: ['Background'] }],
    ]);
    expect(h.server.object('ConfigMap', NAMESPACE, 'old-a')).toBeUndefined();
  });

  it('refuses a @readonly manifest runbook and YAML that does not parse, without quoting the body', async () => {
    const readOnly = await h.refusal(h.sign(configMap('r'), MANIFEST, { readOnly: true }));
    const broken = await h.refusal(h.sign('apiVersion: v1\nkind: Secret\nmetadata: { name: s }\nstringData: { password: "hunter2-secret\n', MANIFEST));

    expect(readOnly.code).toBe('EXECUTION_FAILED');
    expect(readOnly.message).toContain('@readonly');
    expect(broken.code).toBe('EXECUTION_FAILED');
    expect(broken.message).toMatch(/not valid YAML \(line \d+, column \d+\)/);
    expect(broken.message).not.toContain('hunter2');
  });

  it('cancels the request in flight at the time limit and answers TIMEOUT, saying what was done and that the last effect is unknown', async () => {
    const hanging = `/api/v1/namespaces/${NAMESPACE}/configmaps/slow-b`;
    h.server.hangingWrites.add(hanging);
    try {
      const body = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: slow-a }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: slow-b }\n';
      const refusal = await h.refusal(h.sign(body, MANIFEST, { limits: { timeoutMs: 1500, maxRows: 1000, maxBytes: 1024 * 1024 } }));

      expect(refusal.code).toBe('TIMEOUT');
      expect(refusal.message).toContain('after configmap/slow-a created: applying configmap/slow-b was cancelled before the API server answered; its effect is unknown');
    } finally {
      h.server.hangingWrites.delete(hanging);
    }
  });

  it('answers TARGET_UNAVAILABLE when the API server cannot be reached, before anything was applied', async () => {
    const refusal = await h.refusal(h.sign(configMap('down'), MANIFEST, { connection: { name: 'down', type: 'kubernetes' } }));

    expect(refusal.code).toBe('TARGET_UNAVAILABLE');
    expect(refusal.message).toContain('it was not sent');
  });
});
