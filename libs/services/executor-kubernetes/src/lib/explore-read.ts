import type { KubernetesConnectionConfig } from '@rungate/config';
import { KubernetesReadRequest, RungateError, type KubernetesExploreKind, type ProcessOutput } from '@rungate/contracts';
import { ProcessOutputCollector } from '@rungate/executors';
import { explorableNamespaces } from '@rungate/exploration';
import { ApiTransportError, statusMessage } from './kube-api';
import type { KubeTarget } from './kube-targets';

/** Where each readable kind lives in the API. Secrets are not a kind here, so no read can name them. */
const API_PATH: Record<KubernetesExploreKind, string> = {
  pods: '/api/v1',
  services: '/api/v1',
  endpoints: '/api/v1',
  configmaps: '/api/v1',
  events: '/api/v1',
  persistentvolumeclaims: '/api/v1',
  deployments: '/apis/apps/v1',
  statefulsets: '/apis/apps/v1',
  daemonsets: '/apis/apps/v1',
  replicasets: '/apis/apps/v1',
  jobs: '/apis/batch/v1',
  cronjobs: '/apis/batch/v1',
  ingresses: '/apis/networking.k8s.io/v1',
};

/** One GET an exploration makes: the path, its query, and whether the answer is a log (text) or objects (JSON). */
export interface ExploreRead {
  path: string;
  query: Record<string, string | undefined>;
  log: boolean;
}

function refuse(message: string): never {
  throw new RungateError('EXPLORATION_REFUSED', `${message}; nothing was read`);
}

/**
 * The read an exploration ticket's body asks for, checked against this executor's own
 * connection config (the namespaces it lets explorations read), whatever policy checked: only
 * GETs of the listed kinds and of pod logs, never exec, never Secrets.
 */
export function exploreRead(body: string, connection: KubernetesConnectionConfig): ExploreRead {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    refuse('the exploration is not a Kubernetes read');
  }
  const parsed = KubernetesReadRequest.safeParse(json);
  if (!parsed.success) refuse('the exploration is not a Kubernetes read this executor knows');
  const read = parsed.data;
  const allowed = explorableNamespaces(connection);
  if (!allowed.includes(read.namespace)) refuse(`namespace ${read.namespace} is not readable on ${connection.name} (explore.namespaces: ${allowed.join(', ')})`);
  const namespace = `/namespaces/${encodeURIComponent(read.namespace)}`;
  if (read.read === 'logs') {
    return {
      path: `/api/v1${namespace}/pods/${encodeURIComponent(read.pod)}/log`,
      query: {
        tailLines: String(read.tailLines),
        ...(read.container ? { container: read.container } : {}),
        ...(read.sinceSeconds !== undefined ? { sinceSeconds: String(read.sinceSeconds) } : {}),
        ...(read.previous ? { previous: 'true' } : {}),
      },
      log: true,
    };
  }
  return { path: `${API_PATH[read.kind]}${namespace}/${read.kind}${read.name ? `/${encodeURIComponent(read.name)}` : ''}`, query: {}, log: false };
}

/** Bookkeeping no reader needs, and the largest part of most objects. */
function withoutManagedFields(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutManagedFields);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([key]) => key !== 'managedFields')
      .map(([key, child]) => [key, withoutManagedFields(child)]),
  );
}

/** Makes the read: one GET, its answer as stdout (objects as JSON, a log as it is), within the byte cap. */
export async function runExploreRead(target: KubeTarget, read: ExploreRead, maxBytes: number, signal: AbortSignal): Promise<ProcessOutput> {
  let response;
  try {
    response = await target.api.request('GET', read.path, { query: read.query, signal, ...(read.log ? { text: true } : {}) });
  } catch (error) {
    if (error instanceof ApiTransportError) throw new RungateError('TARGET_UNAVAILABLE', `the read on ${target.name} failed: ${error.message}; nothing was changed`);
    throw error;
  }
  if (response.status < 200 || response.status >= 300) {
    throw new RungateError('EXECUTION_FAILED', `${target.name} answered ${response.status} to the read: ${target.scrubber.scrub(statusMessage(response))}; nothing was changed`);
  }
  const output = new ProcessOutputCollector(maxBytes);
  output.write('stdout', read.log ? String(response.body ?? '') : `${JSON.stringify(withoutManagedFields(response.body), null, 2)}\n`);
  return output.finish(0);
}
