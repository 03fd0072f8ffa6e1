import type { KubeApi } from './kube-api';

/** One kind as the API server serves it (an entry of an APIResourceList). */
export interface ApiResource {
  /** The plural in the URL: `deployments`. */
  readonly name: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

export type DiscoveryAnswer = { found: true; resource: ApiResource } | { found: false; reason: 'version' | 'kind' } | { found: false; reason: 'error'; status: number; response: unknown };

/** Served kinds change when CRDs are installed; a cached list is trusted this long. */
const DISCOVERY_TTL_MS = 5 * 60_000;

interface CachedList {
  at: number;
  resources: ApiResource[];
}

/** `v1` → `/api/v1`, `apps/v1` → `/apis/apps/v1`. */
export function groupVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

function resourcesOf(body: unknown): ApiResource[] {
  const list = (body as { resources?: unknown } | null)?.resources;
  if (!Array.isArray(list)) return [];
  return list.flatMap((entry: unknown) => {
    const { name, kind, namespaced } = (entry ?? {}) as Record<string, unknown>;
    // Subresources (`deployments/scale`) share their parent's kind; the object itself is wanted.
    if (typeof name !== 'string' || name.includes('/') || typeof kind !== 'string' || typeof namespaced !== 'boolean') return [];
    return [{ name, kind, namespaced }];
  });
}

/**
 * Which URL and scope a manifest's kind has, from the API server's discovery documents
 * (`GET /api/v1`, `/apis/<group>/<version>`), as kubectl learns it. A kind missing from a
 * cached list is looked up again once, so a CRD installed a minute ago is found.
 */
export class Discovery {
  private readonly lists = new Map<string, CachedList>();

  constructor(
    private readonly api: KubeApi,
    private readonly now: () => number = Date.now,
  ) {}

  async resourceFor(apiVersion: string, kind: string, signal: AbortSignal): Promise<DiscoveryAnswer> {
    const cached = this.lists.get(apiVersion);
    const fresh = cached && this.now() - cached.at < DISCOVERY_TTL_MS;
    const hit = fresh ? cached.resources.find((r) => r.kind === kind) : undefined;
    if (hit) return { found: true, resource: hit };
    const response = await this.api.request('GET', groupVersionPath(apiVersion), { signal });
    if (response.status === 404) return { found: false, reason: 'version' };
    if (response.status !== 200) return { found: false, reason: 'error', status: response.status, response: response.body };
    const resources = resourcesOf(response.body);
    this.lists.set(apiVersion, { at: this.now(), resources });
    const resource = resources.find((r) => r.kind === kind);
    return resource ? { found: true, resource } : { found: false, reason: 'kind' };
  }
}
