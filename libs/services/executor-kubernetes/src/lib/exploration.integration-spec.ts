import { maskingClaimFor } from '@rungate/testing';
import { KubernetesHarness } from '../testing/executor-harness';

/**
 * explore_k8s and explore_logs (ADR 19) against the fake API server: GETs only, in the
 * namespaces the connection lets explorations read, whatever the signed body asks for.
 */
describe('executor-kubernetes: explorations read and never write', () => {
  let h: KubernetesHarness;

  beforeAll(async () => {
    h = await KubernetesHarness.create('explore');
    h.server.addPod('team-a', { name: 'web-1', labels: { app: 'web' }, logs: { main: 'starting\nlistening on :8080\nuser ada@example.com logged in\nGET /healthz 200\n' } });
    h.server.addPod('team-a', { name: 'multi-1', containers: ['app', 'sidecar'], logs: { app: 'app line\n', sidecar: 'sidecar line\n' } });
    h.server.addPod('team-c', { name: 'elsewhere' });
    h.server.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'team-a', labels: { app: 'web' } }, spec: { replicas: 2 } });
    h.server.seed({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'team-a' }, data: { password: 'c2VjcmV0' } });
    await h.startReplica();
  });

  afterAll(() => h?.close());

  it('gets one object as JSON, without managedFields, with GET requests only', async () => {
    const before = h.server.writes().length;
    const result = await h.exec(h.signRead({ read: 'objects', kind: 'deployments', namespace: 'team-a', name: 'web' }));
    expect(result).toMatchObject({ status: 'succeeded', output: { kind: 'process', exitCode: 0, truncated: false } });
    const object = JSON.parse(result.output.kind === 'process' ? result.output.stdout : '{}') as { kind: string; spec: { replicas: number }; metadata: Record<string, unknown> };
    expect(object).toMatchObject({ kind: 'Deployment', spec: { replicas: 2 } });
    expect(object.metadata).not.toHaveProperty('managedFields');
    expect(h.server.writes().length).toBe(before);
  });

  it('lists a kind in a namespace', async () => {
    const result = await h.exec(h.signRead({ read: 'objects', kind: 'pods', namespace: 'team-a' }));
    const list = JSON.parse(result.output.kind === 'process' ? result.output.stdout : '{}') as { items: { metadata: { name: string } }[] };
    expect(list.items.map((pod) => pod.metadata.name).sort()).toEqual(['multi-1', 'web-1']);
  });

  it('tails a pod\'s log, masked with the ticket\'s profile', async () => {
    const result = await h.exec(
      h.signRead({ read: 'logs', namespace: 'team-a', pod: 'web-1', tailLines: 2, previous: false }, { masking: maskingClaimFor(h.configFile, 'pii') }),
    );
    expect(result.output).toMatchObject({ kind: 'process', exitCode: 0, stdout: 'user [EMAIL] logged in\nGET /healthz 200\n' });
    const last = h.server.requests.at(-1);
    expect(last).toMatchObject({ method: 'GET', path: '/api/v1/namespaces/team-a/pods/web-1/log', query: { tailLines: ['2'] } });
  });

  it('says which container to name when a pod has several', async () => {
    const error = await h.refusal(h.signRead({ read: 'logs', namespace: 'team-a', pod: 'multi-1', tailLines: 10, previous: false }));
    expect(error).toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringMatching(/a container name must be specified for pod multi-1, choose one of: \[app sidecar\]/) });
    const result = await h.exec(h.signRead({ read: 'logs', namespace: 'team-a', pod: 'multi-1', container: 'sidecar', tailLines: 10, previous: false }));
    expect(result.output.kind === 'process' && result.output.stdout).toBe('sidecar line\n');
  });

  it.each([
    [{ read: 'objects', kind: 'pods', namespace: 'team-c' }, /namespace team-c is not readable on explorable \(explore.namespaces: team-a, team-b\); nothing was read/],
    [{ read: 'objects', kind: 'secrets', namespace: 'team-a', name: 'db' }, /not a Kubernetes read this executor knows/],
    [{ read: 'exec', namespace: 'team-a', pod: 'web-1', command: ['sh'] }, /not a Kubernetes read this executor knows/],
    [{ read: 'objects', kind: 'pods', namespace: 'team-a', verb: 'delete' }, /not a Kubernetes read this executor knows/],
  ])('refuses %j before anything reaches the cluster', async (read, message) => {
    const before = h.server.requests.length;
    const error = await h.refusal(h.signRead(read));
    expect(error).toMatchObject({ code: 'EXPLORATION_REFUSED', message: expect.stringMatching(message) });
    expect(h.server.requests.length).toBe(before);
  });

  it('reads on a connection without explore.namespaces only its own namespace', async () => {
    const error = await h.refusal(h.signRead({ read: 'objects', kind: 'pods', namespace: 'team-b' }, { connection: { name: 'no-exec', type: 'kubernetes' } }));
    expect(error.message).toMatch(/namespace team-b is not readable on no-exec \(explore.namespaces: team-a\)/);
  });
});
