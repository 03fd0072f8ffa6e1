import { RungateError, type ProcessOutput } from '@rungate/contracts';
import { ProcessOutputCollector } from '@rungate/executors';
import type { WorkloadAction } from './action-document';
import type { ApiResponse } from './kube-api';
import type { KubeTarget } from './kube-targets';
import { dryRunSuffix, FIELD_MANAGER, serverError, transportFailure, writeQuery } from './manifest-run';
import { assertNamespace, objectRef } from './manifests';

export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

const RESOURCES: Record<WorkloadAction['target']['kind'], string> = { Deployment: 'deployments', StatefulSet: 'statefulsets' };

export interface ActionRun {
  target: KubeTarget;
  action: WorkloadAction;
  dryRun: boolean;
  maxBytes: number;
  signal: AbortSignal;
  /** The restart's timestamp; the clock is a parameter so tests can pin it. */
  now?: () => Date;
}

/** The path of the action's workload, in the connection's namespace (any other is refused). */
export function workloadPath(action: WorkloadAction, namespace: string): string {
  assertNamespace(action.target.namespace, namespace, `the Action's target ${action.target.kind} ${action.target.name}`);
  return `/apis/apps/v1/namespaces/${namespace}/${RESOURCES[action.target.kind]}/${action.target.name}`;
}

/** RFC 3339 in UTC to the second, as `kubectl rollout restart` writes it. */
export function restartTimestamp(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function refused(run: ActionRun, ref: string, doing: string, response: ApiResponse): RungateError {
  return new RungateError('EXECUTION_FAILED', `${doing} ${ref}: ${run.target.scrubber.scrub(serverError(response))}; nothing was changed`);
}

/**
 * `scale` and `rollout restart` as kubectl does them: scale through the workload's scale
 * subresource (a merge patch of `spec.replicas`, read first to report the change), restart
 * by stamping `kubectl.kubernetes.io/restartedAt` on the pod template (a strategic merge
 * patch), which rolls the pods by the workload's own update strategy. One write each, so a
 * refusal changes nothing and is an error rather than partial output.
 */
export async function runWorkloadAction(run: ActionRun): Promise<ProcessOutput> {
  const path = workloadPath(run.action, run.target.namespace);
  const ref = objectRef('apps/v1', run.action.target.kind, run.action.target.name);
  const output = new ProcessOutputCollector(run.maxBytes);
  const suffix = dryRunSuffix(run.dryRun);
  const { api } = run.target;
  try {
    if (run.action.action === 'scale') {
      const current = await api.request('GET', `${path}/scale`, { signal: run.signal });
      if (current.status !== 200) throw refused(run, ref, 'reading the scale of', current);
      const from = (current.body as { spec?: { replicas?: unknown } } | null)?.spec?.replicas;
      const to = run.action.replicas;
      const scaled = await api.request('PATCH', `${path}/scale`, {
        query: writeQuery(run.dryRun, { fieldManager: FIELD_MANAGER }),
        contentType: MERGE_PATCH,
        body: JSON.stringify({ spec: { replicas: to } }),
        signal: run.signal,
      });
      if (scaled.status !== 200) throw refused(run, ref, 'scaling', scaled);
      const line = from === to ? `${ref} unchanged (already ${to} replicas)` : `${ref} scaled from ${typeof from === 'number' ? from : 0} to ${to} replicas`;
      output.write('stdout', `${line}${suffix}\n`);
    } else {
      const patched = await api.request('PATCH', path, {
        query: writeQuery(run.dryRun, { fieldManager: FIELD_MANAGER }),
        contentType: STRATEGIC_MERGE_PATCH,
        body: JSON.stringify({ spec: { template: { metadata: { annotations: { [RESTARTED_AT]: restartTimestamp((run.now ?? (() => new Date()))()) } } } } }),
        signal: run.signal,
      });
      if (patched.status !== 200) throw refused(run, ref, 'restarting', patched);
      const paused = (patched.body as { spec?: { paused?: unknown } } | null)?.spec?.paused === true;
      output.write('stdout', `${ref} restarted${suffix}\n`);
      if (paused) output.write('stderr', `${ref} is paused: its pods roll when the rollout is resumed\n`);
    }
  } catch (error) {
    throw transportFailure(run.target, error, `${run.action.action === 'scale' ? 'scaling' : 'restarting'} ${ref}`, []);
  }
  return output.finish(0);
}
