import { ConnectionConfig } from '@rungate/config';

function problems(input: Record<string, unknown>): string[] {
  const parsed = ConnectionConfig.safeParse({ name: 'prod', type: 'kubernetes', ...input });
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('a kubernetes connection in rungate.yaml', () => {
  it('takes a kubeconfig secret reference (with an optional context) or inCluster, a namespace and an exec selector', () => {
    expect(ConnectionConfig.parse({ name: 'prod', type: 'kubernetes', kubeconfig: 'file:/etc/rungate/kubeconfig', context: 'prod', namespace: 'payments', exec: { selector: 'app=toolbox', container: 'tools' } })).toEqual({
      name: 'prod',
      type: 'kubernetes',
      kubeconfig: 'file:/etc/rungate/kubeconfig',
      context: 'prod',
      namespace: 'payments',
      exec: { selector: 'app=toolbox', container: 'tools' },
      warmSessions: 1,
      maxBytes: 1024 * 1024,
    });
    expect(ConnectionConfig.parse({ name: 'prod', type: 'kubernetes', inCluster: true, warmSessions: 0 })).toMatchObject({ warmSessions: 0 });
    expect(problems({ inCluster: true })).toEqual([]);
  });

  it.each([
    [{}, 'kubeconfig: set exactly one of kubeconfig (a secret reference) or inCluster: true'],
    [{ kubeconfig: 'env:KUBECONFIG_DATA', inCluster: true }, 'kubeconfig: set exactly one'],
    [{ kubeconfig: 'apiVersion: v1\nclusters: []' }, 'kubeconfig: must be a secret reference'],
    [{ inCluster: true, context: 'prod' }, 'context: context selects a kubeconfig context; it needs kubeconfig'],
    [{ inCluster: true, namespace: 'Team_A' }, 'namespace: a DNS label'],
    [{ inCluster: true, exec: { selector: '' } }, 'exec.selector'],
    [{ inCluster: true, exec: { selector: 'app=x', container: 'Tools!' } }, 'exec.container: a DNS label'],
    [{ inCluster: true, warmSessions: -1 }, 'warmSessions'],
    [{ inCluster: true, warmSessions: 1.5 }, 'warmSessions'],
    [{ inCluster: true, warmSessions: 9 }, 'warmSessions'],
  ])('refuses %j: %s', (input, message) => {
    expect(problems(input).join('\n')).toContain(message);
  });
});
