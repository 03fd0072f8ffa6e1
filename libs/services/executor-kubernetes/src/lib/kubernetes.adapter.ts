import type { KubernetesConnectionConfig } from '@rungate/config';
import { RungateError, type ProcessOutput, type RunTicketClaims } from '@rungate/contracts';
import { ProcessOutputCollector, shellPrelude, type ExecutorAdapter, type PipelineLog } from '@rungate/executors';
import { runbookLanguage } from '@rungate/runbooks';
import type { WorkloadAction } from './action-document';
import { exploreRead, runExploreRead, type ExploreRead } from './explore-read';
import type { KubeTarget, KubeTargets } from './kube-targets';
import { runManifests } from './manifest-run';
import { assertNamespace, parseKubernetesBody, type ManifestObject } from './manifests';
import { PodExecSession, selectPod, type PodChoice } from './pod-exec';
import { DEFAULT_WARM_MAX_IDLE_MS, DEFAULT_WARM_RECHECK_AFTER_MS, WarmSessions, type WarmPool } from './warm-sessions';
import { workloadPath, runWorkloadAction } from './workload-action';

/** What a run does once admitted; decided in `prepare` from the signed runbook path and the body. */
export type KubernetesWork =
  | { kind: 'exec'; selector: string; container?: string; shell: 'sh' | 'bash'; script: string }
  | { kind: 'manifests'; action: 'apply' | 'delete'; objects: ManifestObject[] }
  | { kind: 'action'; action: WorkloadAction }
  /** An exploration (ADR 19): one GET of objects or a pod's log. */
  | { kind: 'read'; read: ExploreRead };

type ExecWork = Extract<KubernetesWork, { kind: 'exec' }>;

export interface PreparedKubernetesRun {
  readonly runId: string;
  readonly target: KubeTarget;
  readonly work: KubernetesWork;
  readonly dryRun: boolean;
  readonly maxBytes: number;
  /** Aborted by `cancel`: closes the exec session or the API request in flight. */
  readonly stop: AbortController;
  /** A shell runbook's exec session, opened by `open` ahead of `run` (which opens it itself otherwise). */
  session?: Promise<OpenedExec>;
  /** Where a shell runbook takes a warm session from, unless its connection keeps none. */
  readonly warm?: WarmPool;
}

/** `sh -s` waiting on its stdin in the chosen pod, and the output it will write to. */
interface OpenedExec {
  pod: PodChoice;
  session: PodExecSession;
  output: ProcessOutputCollector;
  /** Taken from the warm sessions rather than opened for this run. */
  warm: boolean;
}

export interface KubernetesAdapterOptions {
  /** An unused warm exec session is closed after this long; default 30 s. */
  warmMaxIdleMs?: number;
  /** A warm exec session older than this is used only once its pod is seen still Running and Ready; default 1 s. */
  warmRecheckAfterMs?: number;
}

function refuse(message: string): RungateError {
  return new RungateError('EXECUTION_FAILED', `${message}; nothing was executed`);
}

/**
 * Kubernetes: `.sh` runbooks run as `sh -s` in a pod the connection's selector picks;
 * `.yaml` runbooks are server-side applied (or deleted, with `@action delete`), or are one
 * Rungate Action document (scale, restart). Everything acts in the connection's namespace.
 */
export class KubernetesAdapter implements ExecutorAdapter<'kubernetes', PreparedKubernetesRun> {
  readonly type = 'kubernetes' as const;
  readonly explores = ['explore_k8s', 'explore_logs'] as const;
  private readonly warm: WarmSessions;

  constructor(
    private readonly targets: KubeTargets,
    private readonly log: PipelineLog,
    options: KubernetesAdapterOptions = {},
  ) {
    this.warm = new WarmSessions(log, {
      maxIdleMs: options.warmMaxIdleMs ?? DEFAULT_WARM_MAX_IDLE_MS,
      recheckAfterMs: options.warmRecheckAfterMs ?? DEFAULT_WARM_RECHECK_AFTER_MS,
    });
  }

  prepare(claims: RunTicketClaims, body: string, connection: KubernetesConnectionConfig): PreparedKubernetesRun {
    const work = this.workFor(claims, body, connection);
    const target = this.targets.targetFor(connection);
    // Also for manifests: a changed connection closes its warm sessions.
    const warm = this.warm.poolFor(connection, target, work.kind === 'exec' ? { selector: work.selector, container: work.container, shell: work.shell } : undefined);
    return {
      runId: claims.runId,
      target,
      work,
      ...(warm ? { warm } : {}),
      dryRun: claims.dryRun,
      // The executor's own configuration caps what a ticket may ask for.
      maxBytes: Math.min(claims.limits.maxBytes, connection.maxBytes),
      stop: new AbortController(),
    };
  }

  /**
   * A shell runbook's pod is looked up and `sh -s` started in it, waiting on its stdin, while
   * the run is admitted; the script is sent only by `run`. Manifests and actions open
   * nothing: every request they make, reads included, stays in `run`.
   */
  async open(prepared: PreparedKubernetesRun, signal: AbortSignal): Promise<void> {
    if (prepared.work.kind !== 'exec') return;
    const stop = () => prepared.stop.abort();
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    try {
      prepared.session ??= this.openExec(prepared, prepared.work);
      await prepared.session;
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  /**
   * Closes the exec session `open` set up (or took warm), its stdin closed first: the shell
   * reads end-of-input and runs nothing.
   */
  async abandon(prepared: PreparedKubernetesRun): Promise<void> {
    const opening = prepared.session;
    if (!opening) return;
    const opened = await opening.catch(() => undefined);
    if (!opened) return;
    this.refill(prepared);
    await opened.session.abandon();
  }

  async run(prepared: PreparedKubernetesRun, signal: AbortSignal): Promise<ProcessOutput> {
    const stop = () => prepared.stop.abort();
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    try {
      const { work, target } = prepared;
      const common = { target, dryRun: prepared.dryRun, maxBytes: prepared.maxBytes, signal: prepared.stop.signal };
      switch (work.kind) {
        case 'exec': {
          if (prepared.stop.signal.aborted) throw refuse('the run was cancelled before it started');
          let opened = await (prepared.session ??= this.openExec(prepared, work));
          this.refill(prepared);
          if (opened.warm && !opened.session.usable) {
            // The warm session ended while the run was admitted; nothing was sent to it.
            this.log.log(`run ${prepared.runId}: its warm exec session in pod ${opened.pod.pod} closed before use; opening another`);
            void opened.session.abandon();
            prepared.session = this.openFresh(prepared, work);
            opened = await prepared.session;
          }
          const { pod, session, output } = opened;
          this.log.log(`run ${prepared.runId}: exec in pod ${pod.pod} (container ${pod.container}) of ${target.name}${opened.warm ? ' (warm session)' : ''}`);
          const exitCode = await session.run(work.script);
          return output.finish(exitCode);
        }
        case 'manifests':
          return await runManifests({ ...common, objects: work.objects, action: work.action });
        case 'action':
          return await runWorkloadAction({ ...common, action: work.action });
        case 'read':
          return await runExploreRead(target, work.read, prepared.maxBytes, prepared.stop.signal);
      }
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  async cancel(prepared: PreparedKubernetesRun): Promise<void> {
    prepared.stop.abort();
  }

  async close(): Promise<void> {
    await this.warm.close();
    this.targets.close();
  }

  /** Takes a warm `sh -s` if one is there, else picks the pod and opens one; nothing of the script is sent. */
  private async openExec(prepared: PreparedKubernetesRun, work: ExecWork): Promise<OpenedExec> {
    const signal = prepared.stop.signal;
    if (prepared.warm && !signal.aborted) {
      const spare = await this.warm.take(prepared.warm, signal);
      if (spare) {
        const output = new ProcessOutputCollector(prepared.maxBytes);
        spare.session.bind(output, signal);
        return { pod: spare.pod, session: spare.session, output, warm: true };
      }
    }
    return this.openFresh(prepared, work);
  }

  /** Picks the pod and opens `sh -s` in it; nothing of the script is sent. */
  private async openFresh(prepared: PreparedKubernetesRun, work: ExecWork): Promise<OpenedExec> {
    const { target } = prepared;
    const signal = prepared.stop.signal;
    const pod = await selectPod(target, work.selector, work.container, signal);
    const output = new ProcessOutputCollector(prepared.maxBytes);
    const session = await PodExecSession.open({ target, pod, shell: work.shell, output, signal });
    return { pod, session, output, warm: false };
  }

  /**
   * Once a run has its session (taken warm or opened), the pool is topped up in the
   * background; nobody waits for it. A run whose session did not open adds none.
   */
  private refill(prepared: PreparedKubernetesRun): void {
    if (prepared.warm) this.warm.refill(prepared.warm);
  }

  /** Refuses, before anything reaches the cluster, every run this connection must not do. */
  private workFor(claims: RunTicketClaims, body: string, connection: KubernetesConnectionConfig): KubernetesWork {
    if (claims.explore) return { kind: 'read', read: exploreRead(body, connection) };
    const path = claims.runbook?.path;
    if (path === undefined) refuseWith('this run names no runbook, and only runbooks run here');
    const language = runbookLanguage(path);
    if (language === 'shell') {
      if (!connection.exec) refuseWith(`connection ${connection.name} has no exec.selector, so it runs no shell runbooks (configure exec: { selector: … } to pick the pods)`);
      if (claims.dryRun) refuseWith('a shell runbook cannot be dry-run: Kubernetes cannot tell what a script would do');
      if (claims.action !== undefined) refuseWith(`@action ${claims.action} applies to manifests, not to shell runbooks`);
      // `.runbook.bash` asks for bash (the pod's image must have it); everything else gets POSIX sh.
      const shell = /\.bash$/i.test(path) ? 'bash' : 'sh';
      return { kind: 'exec', selector: connection.exec.selector, container: connection.exec.container, shell, script: shellPrelude(claims.env) + body };
    }
    if (language !== 'kubernetes') refuseWith(`${path} is not a shell script or a Kubernetes manifest, so a kubernetes connection cannot run it`);
    if (claims.readOnly) refuseWith('a @readonly runbook cannot apply, delete, scale or restart; only shell runbooks can read from a cluster');
    const parsed = parseKubernetesBody(body);
    if (parsed.kind === 'action') {
      if (claims.action === 'delete') refuseWith(`@action delete and an Action document contradict each other`);
      workloadPath(parsed.action, connection.namespace);
      return { kind: 'action', action: parsed.action };
    }
    for (const object of parsed.objects) assertNamespace(object.namespace, connection.namespace, `document ${object.document} (${object.kind} ${object.name})`);
    return { kind: 'manifests', action: claims.action ?? 'apply', objects: parsed.objects };
  }
}

function refuseWith(message: string): never {
  throw refuse(message);
}
