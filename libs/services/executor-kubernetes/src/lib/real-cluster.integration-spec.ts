import { randomBytes } from 'node:crypto';
import { KubernetesHarness } from '../testing/executor-harness';

/**
 * Against a real cluster, only when KUBECONFIG is set (no API server installs on the CI
 * machines): a read-only exec and a dry-run apply, neither of which changes the cluster.
 *
 *   KUBECONFIG=~/.kube/config                   the cluster (first file of a list)
 *   RUNGATE_K8S_TEST_NAMESPACE=default          where to act
 *   RUNGATE_K8S_TEST_SELECTOR=app=toolbox       pods for the exec (that test skips without it)
 *   RUNGATE_K8S_TEST_CONTAINER=tools            optional
 */
const kubeconfigFile = process.env['KUBECONFIG']?.split(':')[0];
const namespace = process.env['RUNGATE_K8S_TEST_NAMESPACE'] ?? 'default';
const selector = process.env['RUNGATE_K8S_TEST_SELECTOR'];

const suite = kubeconfigFile ? describe : describe.skip;
const withPods = selector ? it : it.skip;

suite(`executor-kubernetes against a real cluster${kubeconfigFile ? '' : ' (skipped: KUBECONFIG is not set)'}`, () => {
  let h: KubernetesHarness;

  beforeAll(async () => {
    h = await KubernetesHarness.create('real', {
      realCluster: { kubeconfigFile: kubeconfigFile as string, namespace, selector, container: process.env['RUNGATE_K8S_TEST_CONTAINER'] },
    });
    await h.startReplica();
  });

  afterAll(async () => {
    await h?.close();
  });

  withPods(`runs a read-only script in a pod matching ${selector ?? '(set RUNGATE_K8S_TEST_SELECTOR)'}`, async () => {
    const result = await h.exec(h.sign('echo "rungate-real-cluster-ok $RG_MARKER"\nid -u >/dev/null\n', 'k8s/whoami.runbook.sh', { readOnly: true, env: { RG_MARKER: "it's \"quoted\" $HOME" } }), 60_000);

    expect(result.output).toMatchObject({ kind: 'process', exitCode: 0, stdout: 'rungate-real-cluster-ok it\'s "quoted" $HOME\n' });
  });

  it('dry-run applies a ConfigMap: the server validates it, nothing is stored', async () => {
    const name = `rungate-dry-run-${randomBytes(4).toString('hex')}`;
    const body = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  checked: "yes"\n`;
    const first = await h.exec(h.sign(body, 'k8s/dry-run.runbook.yaml', { dryRun: true }), 60_000);
    const again = await h.exec(h.sign(body, 'k8s/dry-run.runbook.yaml', { dryRun: true }), 60_000);

    expect(first).toMatchObject({ status: 'succeeded', dryRun: true, output: { exitCode: 0, stdout: `configmap/${name} created (server dry run)\n` } });
    // Still "created": the first dry run stored nothing.
    expect(again.output).toMatchObject({ exitCode: 0, stdout: `configmap/${name} created (server dry run)\n` });
  });
});
