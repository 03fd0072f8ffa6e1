import { KubeConfig } from '@kubernetes/client-node';
import type { KubernetesConnectionConfig } from '@rungate/config';
import { SecretKeyedTargets, SecretScrubber, resolveTargetSecret, targetUnavailable as unavailable, type PipelineLog } from '@rungate/executors';
import { Discovery } from './discovery';
import { KubeApi } from './kube-api';

/** One configured cluster connection as the executor uses it; only this process holds its credentials. */
export interface KubeTarget {
  readonly name: string;
  readonly namespace: string;
  readonly kc: KubeConfig;
  readonly api: KubeApi;
  readonly discovery: Discovery;
  /** Hides the kubeconfig's tokens, passwords and keys in any message that leaves the process. */
  readonly scrubber: SecretScrubber;
}

/** Every credential a kubeconfig user can carry inline. */
function secretsOf(kc: KubeConfig): string[] {
  const user = kc.getCurrentUser();
  if (!user) return [];
  const provider = user.authProvider as { config?: Record<string, unknown> } | undefined;
  const fromProvider = Object.values(provider?.config ?? {}).filter((value): value is string => typeof value === 'string' && value.length >= 8);
  // An exec plugin's environment often carries the credential it trades for a token.
  const execEnv = ((user.exec as { env?: { value?: unknown }[] } | undefined)?.env ?? []).map((entry) => entry.value);
  return [user.token, user.password, user.keyData, ...fromProvider, ...execEnv].filter((value): value is string => typeof value === 'string' && value !== '');
}

/**
 * Loads each connection's KubeConfig on first use and again whenever its kubeconfig secret
 * changes (a rotated file, an edited rungate.yaml). The kubeconfig is parsed here, never
 * echoed: a YAML error message would quote the line it failed on, which may hold a token.
 */
export class KubeTargets {
  private readonly targets = new SecretKeyedTargets<KubeTarget>((target, name) => {
    this.log.log(`connection ${name}: configuration changed; new runs use the new kubeconfig`);
    target.api.close();
  });

  constructor(
    private readonly log: PipelineLog,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  targetFor(connection: KubernetesConnectionConfig): KubeTarget {
    const text = connection.kubeconfig === undefined ? undefined : resolveTargetSecret(connection.name, connection.kubeconfig, this.env);
    const material = [text ?? null, connection.inCluster === true, connection.context ?? null, connection.namespace];
    return this.targets.targetFor(connection.name, material, () => this.open(connection, text));
  }

  close(): void {
    for (const target of this.targets.clear()) target.api.close();
  }

  private open(connection: KubernetesConnectionConfig, text: string | undefined): KubeTarget {
    const kc = new KubeConfig();
    if (text === undefined) {
      // client-node reads the service-account token file on each request, so rotation needs nothing here.
      if (!this.env['KUBERNETES_SERVICE_HOST']) throw unavailable(connection.name, 'inCluster: KUBERNETES_SERVICE_HOST is not set (is the executor running in a pod?)');
      kc.loadFromCluster();
    } else {
      try {
        kc.loadFromString(text);
      } catch (error) {
        const mark = (error as { mark?: { line?: number } }).mark;
        // client-node's own checks name a missing key, never a value; a YAML error quotes the source.
        const problem = mark ? `is not valid YAML (line ${(mark.line ?? 0) + 1})` : `is incomplete: ${(error as Error).message.slice(0, 200)}`;
        throw unavailable(connection.name, `the kubeconfig ${problem}`);
      }
      if (connection.context !== undefined) {
        if (!kc.getContextObject(connection.context)) throw unavailable(connection.name, `the kubeconfig has no context "${connection.context}"`);
        kc.setCurrentContext(connection.context);
      }
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster?.server) throw unavailable(connection.name, 'the kubeconfig names no current context with a cluster server');
    if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
      throw unavailable(connection.name, 'the cluster server is plain http://; use https (client-node accepts http only with insecure-skip-tls-verify)');
    }
    const scrubber = new SecretScrubber(secretsOf(kc));
    let api: KubeApi;
    try {
      api = new KubeApi(kc, scrubber);
    } catch (error) {
      throw unavailable(connection.name, scrubber.scrub((error as Error).message));
    }
    return { name: connection.name, namespace: connection.namespace, kc, api, discovery: new Discovery(api), scrubber };
  }
}
