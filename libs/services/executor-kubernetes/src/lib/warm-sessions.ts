import type { KubernetesConnectionConfig } from '@rungate/config';
import type { PipelineLog } from '@rungate/executors';
import type { KubeTarget } from './kube-targets';
import { PodExecSession, isReady, selectPod, type PodChoice, type PodLike } from './pod-exec';

/** An unused warm session is closed after this long (the next run opens one again). */
export const DEFAULT_WARM_MAX_IDLE_MS = 30_000;
/** A warm session older than this is checked before use: its pod still Running, Ready and not terminating. */
export const DEFAULT_WARM_RECHECK_AFTER_MS = 1_000;

export interface WarmSessionOptions {
  maxIdleMs: number;
  recheckAfterMs: number;
}

/** What a warm session is for: one connection (as configured now), selector, container and shell. */
export interface WarmKey {
  readonly target: KubeTarget;
  readonly selector: string;
  readonly container: string | undefined;
  readonly shell: 'sh' | 'bash';
}

/** `<shell> -s` waiting on its stdin in a pod, opened for no run yet. */
export interface WarmSession {
  readonly pod: PodChoice;
  readonly session: PodExecSession;
  readonly openedAt: number;
}

interface Spare extends WarmSession {
  expiry?: NodeJS.Timeout;
}

/** The warm sessions of one key. */
export class WarmPool {
  readonly spares: Spare[] = [];
  opening = 0;

  constructor(
    readonly key: WarmKey,
    readonly size: number,
    readonly generation: Generation,
  ) {}
}

/** The warm sessions of one connection as configured now; a changed configuration retires it. */
class Generation {
  readonly abort = new AbortController();
  readonly pools = new Map<string, WarmPool>();

  constructor(
    readonly fingerprint: string,
    readonly target: KubeTarget,
  ) {}

  get retired(): boolean {
    return this.abort.signal.aborted;
  }
}

/**
 * Warm exec sessions for shell runbooks: per connection, selector, container and shell, up
 * to the connection's `warmSessions` of `<shell> -s` already open in a pod and waiting on
 * stdin, so a run's `open` takes one instead of listing pods and opening the exec stream.
 *
 * Lazy: a key gets its first warm session once a run's own session opened, and another after
 * each run that took one (or found none), in the background. Nothing of any runbook goes to a
 * warm session until the run that took it sends its script (ADR 9). A warm session is given
 * to a run only if its socket is open and nothing arrived on it; one older than
 * `recheckAfterMs` only if its pod is still Running, Ready and not terminating; one unused for
 * `maxIdleMs` is closed. A connection whose configuration (or kubeconfig) changed, and
 * `close`, close them all: stdin closed first (v5), then the socket; nothing ran.
 */
export class WarmSessions {
  private readonly generations = new Map<string, Generation>();
  /** Opening and closing in the background: `close` waits for them. */
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly log: PipelineLog,
    private readonly options: WarmSessionOptions,
  ) {}

  /**
   * The pool a shell runbook (`key`) of this connection draws from, or none (`warmSessions:
   * 0`, or no key: a manifest run). Retires the connection's warm sessions if its
   * configuration or kubeconfig changed.
   */
  poolFor(connection: KubernetesConnectionConfig, target: KubeTarget, key?: Omit<WarmKey, 'target'>): WarmPool | undefined {
    if (this.closed) return undefined;
    const fingerprint = JSON.stringify(connection);
    let generation = this.generations.get(connection.name);
    if (generation && (generation.fingerprint !== fingerprint || generation.target !== target)) {
      this.log.log(`connection ${connection.name}: configuration changed; its warm exec sessions are closed`);
      this.retire(generation);
      generation = undefined;
    }
    if (!generation) {
      generation = new Generation(fingerprint, target);
      this.generations.set(connection.name, generation);
    }
    const size = connection.warmSessions ?? 1;
    if (!key || size <= 0) return undefined;
    const id = JSON.stringify([key.selector, key.container ?? null, key.shell]);
    let pool = generation.pools.get(id);
    if (!pool) {
      pool = new WarmPool({ target, ...key }, size, generation);
      generation.pools.set(id, pool);
    }
    return pool;
  }

  /**
   * A warm session for a run, or none: closed, stray-output, expired and (when checked)
   * moved-away sessions are closed on the way. Sends nothing.
   */
  async take(pool: WarmPool, signal: AbortSignal): Promise<WarmSession | undefined> {
    for (let spare = pool.spares.shift(); spare; spare = pool.spares.shift()) {
      clearTimeout(spare.expiry);
      const age = performance.now() - spare.openedAt;
      if (pool.generation.retired || !spare.session.usable || age > this.options.maxIdleMs) {
        this.discard(spare);
        continue;
      }
      if (age > this.options.recheckAfterMs && !(await this.podStillReady(pool.key, spare.pod, signal))) {
        this.log.log(`connection ${pool.key.target.name}: pod ${spare.pod.pod} is no longer Running and Ready (or is gone); its warm exec session is closed unused`);
        this.discard(spare);
        continue;
      }
      if (signal.aborted || !spare.session.usable) {
        this.discard(spare);
        continue;
      }
      return spare;
    }
    return undefined;
  }

  /** Opens warm sessions in the background until the pool has its size; never waited for by a run. */
  refill(pool: WarmPool): void {
    const missing = pool.size - pool.spares.length - pool.opening;
    for (let i = 0; i < missing; i++) {
      if (this.closed || pool.generation.retired) return;
      pool.opening++;
      this.track(this.openSpare(pool).finally(() => pool.opening--));
    }
  }

  /** Closes every warm session and stops those opening; resolves once their sockets are closed. */
  async close(): Promise<void> {
    this.closed = true;
    for (const generation of this.generations.values()) this.retire(generation);
    this.generations.clear();
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private async openSpare(pool: WarmPool): Promise<void> {
    const { key, generation } = pool;
    const signal = generation.abort.signal;
    let spare: Spare;
    try {
      const pod = await selectPod(key.target, key.selector, key.container, signal);
      const session = await PodExecSession.open({ target: key.target, pod, shell: key.shell, signal });
      spare = { pod, session, openedAt: performance.now() };
    } catch (error) {
      if (!generation.retired) this.log.warn(`connection ${key.target.name}: could not open a warm exec session (runs open their own): ${(error as Error).message}`);
      return;
    }
    if (generation.retired) {
      this.discard(spare);
      return;
    }
    // A session the API server ends (the pod deleted, the connection lost) leaves the pool at once.
    void spare.session.ended.then(() => {
      const index = pool.spares.indexOf(spare);
      if (index < 0) return;
      pool.spares.splice(index, 1);
      clearTimeout(spare.expiry);
      this.discard(spare);
    });
    spare.expiry = setTimeout(() => {
      const index = pool.spares.indexOf(spare);
      if (index < 0) return;
      pool.spares.splice(index, 1);
      this.discard(spare);
    }, this.options.maxIdleMs);
    spare.expiry.unref();
    pool.spares.push(spare);
  }

  /**
   * The pod is still one a run may use: Running, Ready, not terminating, still matching the
   * selector. One list filtered to that pod (the `pods list` permission runs already need).
   */
  private async podStillReady(key: WarmKey, pod: PodChoice, signal: AbortSignal): Promise<boolean> {
    try {
      const response = await key.target.api.request('GET', `/api/v1/namespaces/${key.target.namespace}/pods`, {
        query: { labelSelector: key.selector, fieldSelector: `metadata.name=${pod.pod}` },
        signal,
      });
      if (response.status !== 200) return false;
      const items = (response.body as { items?: PodLike[] } | null)?.items ?? [];
      const found = items.find((item) => item.metadata?.name === pod.pod);
      return found !== undefined && isReady(found);
    } catch {
      return false;
    }
  }

  /** Closes an unused warm session: stdin first (v5), then the socket. */
  private discard(spare: Spare): void {
    clearTimeout(spare.expiry);
    this.track(spare.session.abandon());
  }

  private retire(generation: Generation): void {
    generation.abort.abort();
    for (const pool of generation.pools.values()) {
      for (const spare of pool.spares.splice(0)) this.discard(spare);
    }
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch(() => undefined).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }
}
