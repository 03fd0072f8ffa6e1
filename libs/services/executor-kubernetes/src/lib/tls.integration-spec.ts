import { KubernetesHarness, NAMESPACE } from '../testing/executor-harness';
import { selfSignedCertificate } from '../testing/fake-api-server';

// openssl issues the API server's certificate; without it (never on CI) this file skips.
const identity = selfSignedCertificate();
const suite = identity ? describe : describe.skip;

/** Real clusters serve https: the kubeconfig's CA must verify the API server, for REST and for the exec WebSocket. */
suite(`executor-kubernetes over https${identity ? '' : ' (skipped: openssl is not installed)'}`, () => {
  let h: KubernetesHarness;

  beforeAll(async () => {
    h = await KubernetesHarness.create('tls', { fake: { tls: identity ?? undefined } });
    h.server.addPod(NAMESPACE, { name: 'toolbox-0', labels: { app: 'toolbox', tier: 'ops' } });
    await h.startReplica();
  });

  afterAll(async () => {
    await h?.close();
  });

  it('verifies the API server against the kubeconfig\'s certificate-authority-data, then execs and applies', async () => {
    expect(h.server.url).toMatch(/^https:/);
    const exec = await h.exec(h.sign('echo over-tls\n', 'k8s/tls.runbook.sh'));
    const apply = await h.exec(h.sign('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: tls-check }\ndata: { a: "1" }\n', 'k8s/tls.runbook.yaml'));

    expect(exec.output).toMatchObject({ exitCode: 0, stdout: 'over-tls\n' });
    expect(apply.output).toMatchObject({ exitCode: 0, stdout: 'configmap/tls-check created\n' });
  });

  it('refuses an API server whose certificate the kubeconfig\'s CA did not issue: nothing is sent', async () => {
    const before = h.server.requests.length;
    const exec = await h.refusal(h.sign('echo never\n', 'k8s/tls.runbook.sh', { connection: { name: 'wrong-ca', type: 'kubernetes' } }));
    const apply = await h.refusal(h.sign('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: never }\n', 'k8s/tls.runbook.yaml', { connection: { name: 'wrong-ca', type: 'kubernetes' } }));

    expect(exec.code).toBe('TARGET_UNAVAILABLE');
    expect(exec.message).toMatch(/CERT.*nothing was executed/);
    expect(apply.code).toBe('TARGET_UNAVAILABLE');
    expect(apply.message).toMatch(/CERT.*not sent/);
    expect(h.server.requests.length).toBe(before);
  });
});
