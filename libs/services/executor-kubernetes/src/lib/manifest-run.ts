import { RungateError, type ProcessOutput } from '@rungate/contracts';
import { ProcessOutputCollector } from '@rungate/executors';
import { groupVersionPath, type ApiResource } from './discovery';
import { ApiTransportError, statusMessage, type ApiResponse } from './kube-api';
import type { KubeTarget } from './kube-targets';
import { assertNamespace, objectRef, type ManifestObject } from './manifests';
import { applyOutcome, type ObjectOutcome } from './object-outcome';

/** The field manager of every write: `kubectl get -o yaml --show-managed-fields` names Rungate. */
export const FIELD_MANAGER = 'rungate';
export const APPLY_PATCH = 'application/apply-patch+yaml';

export interface ManifestRun {
  target: KubeTarget;
  objects: readonly ManifestObject[];
  action: 'apply' | 'delete';
  dryRun: boolean;
  maxBytes: number;
  signal: AbortSignal;
}

interface ResolvedObject {
  manifest: ManifestObject;
  ref: string;
  /** The object's URL path. */
  path: string;
}

export function dryRunSuffix(dryRun: boolean): string {
  return dryRun ? ' (server dry run)' : '';
}

/** The `dryRun=All` every write of a dry run carries; the server validates, admits and discards. */
export function writeQuery(dryRun: boolean, extra: Record<string, string> = {}): Record<string, string> {
  return { ...(dryRun ? { dryRun: 'All' } : {}), ...extra };
}

/** `Error from server (Reason): message`, as kubectl prints an API answer that is not a success. */
export function serverError(response: ApiResponse): string {
  const reason = (response.body as { reason?: unknown } | null)?.reason;
  const message = (response.body as { message?: unknown } | null)?.message;
  const label = typeof reason === 'string' && reason !== '' ? reason : `HTTP ${response.status}`;
  return `Error from server (${label}): ${typeof message === 'string' && message !== '' ? message : statusMessage(response)}`;
}

/** A request that got no answer from the API server; anything else is passed through as it is. */
export function transportFailure(target: KubeTarget, error: unknown, doing: string, done: readonly string[]): unknown {
  if (!(error instanceof ApiTransportError)) return error;
  const before = done.length ? `after ${done.join('; ')}: ` : '';
  if (error.cancelled) {
    return new RungateError('EXECUTION_FAILED', `${before}${doing} was cancelled before the API server answered; its effect is unknown — check the cluster`);
  }
  if (!error.reached) {
    const code = done.length ? 'EXECUTION_FAILED' : 'TARGET_UNAVAILABLE';
    return new RungateError(code, `connection ${target.name}: ${before}cannot reach the API server (${error.message}) for ${doing}; it was not sent`);
  }
  return new RungateError('OUTCOME_UNKNOWN', `connection ${target.name}: ${before}${doing} got no answer (${error.message}); its effect is unknown — check the cluster`);
}

/**
 * Looks every object's kind up before the first write, so a runbook with one cluster-scoped
 * or unknown kind changes nothing at all.
 */
async function resolveAll(run: ManifestRun): Promise<ResolvedObject[]> {
  const { target } = run;
  const resolved: ResolvedObject[] = [];
  for (const manifest of run.objects) {
    const ref = objectRef(manifest.apiVersion, manifest.kind, manifest.name);
    let answer;
    try {
      answer = await target.discovery.resourceFor(manifest.apiVersion, manifest.kind, run.signal);
    } catch (error) {
      throw transportFailure(target, error, `discovery of ${manifest.apiVersion} ${manifest.kind}`, []);
    }
    const where = `document ${manifest.document} (${ref})`;
    if (!answer.found) {
      if (answer.reason === 'error') {
        throw new RungateError('TARGET_UNAVAILABLE', `connection ${target.name}: discovery of ${manifest.apiVersion} failed: ${target.scrubber.scrub(statusMessage({ status: answer.status, body: answer.response }))}; nothing was applied`);
      }
      const missing = answer.reason === 'version' ? `apiVersion ${manifest.apiVersion} is not served` : `kind ${manifest.kind} is not served in ${manifest.apiVersion}`;
      throw new RungateError('EXECUTION_FAILED', `${where}: ${missing} by the cluster of connection ${target.name}; nothing was applied`);
    }
    resolved.push({ manifest, ref, path: objectPath(answer.resource, manifest, target.namespace) });
  }
  return resolved;
}

function objectPath(resource: ApiResource, manifest: ManifestObject, namespace: string): string {
  const where = `document ${manifest.document} (${objectRef(manifest.apiVersion, manifest.kind, manifest.name)})`;
  if (!resource.namespaced) {
    throw new RungateError('EXECUTION_FAILED', `${where} is cluster-scoped, but this connection acts only in namespace "${namespace}"; nothing was applied`);
  }
  assertNamespace(manifest.namespace, namespace, where);
  return `${groupVersionPath(manifest.apiVersion)}/namespaces/${namespace}/${resource.name}/${manifest.name}`;
}

/**
 * Server-side apply (or delete) of a manifest runbook's objects, in document order. Each
 * object is read first, so its line says whether it was created, configured (some value
 * changed) or unchanged. Conflicts are never forced: a field another manager owns (an HPA's
 * replicas, a GitOps controller's spec) is reported instead of taken over.
 *
 * The API server's refusal of an object ends the run there with exit code 1: the lines
 * before it say what was already done, stderr says why, later objects are not sent.
 */
export async function runManifests(run: ManifestRun): Promise<ProcessOutput> {
  const resolved = await resolveAll(run);
  const output = new ProcessOutputCollector(run.maxBytes);
  const done: string[] = [];
  const suffix = dryRunSuffix(run.dryRun);
  for (const [index, object] of resolved.entries()) {
    let result: { outcome: ObjectOutcome } | { refused: ApiResponse };
    try {
      result = run.action === 'apply' ? await applyObject(run, object) : await deleteObject(run, object);
    } catch (error) {
      throw transportFailure(run.target, error, `${run.action === 'apply' ? 'applying' : 'deleting'} ${object.ref}`, done);
    }
    if ('refused' in result) {
      const left = resolved.length - index - 1;
      const conflict = result.refused.status === 409 && run.action === 'apply';
      output.write('stderr', `${run.target.scrubber.scrub(serverError(result.refused))}\n`);
      if (conflict) output.write('stderr', 'Rungate does not force conflicts: drop the field from the manifest, or have its manager release it\n');
      if (left > 0) output.write('stderr', `${left} later object(s) not ${run.action === 'apply' ? 'applied' : 'deleted'}\n`);
      return output.finish(1);
    }
    const line = `${object.ref} ${result.outcome}${suffix}`;
    done.push(line);
    output.write('stdout', `${line}\n`);
  }
  return output.finish(0);
}

async function applyObject(run: ManifestRun, object: ResolvedObject): Promise<{ outcome: ObjectOutcome } | { refused: ApiResponse }> {
  const { api } = run.target;
  const current = await api.request('GET', object.path, { signal: run.signal });
  if (current.status !== 200 && current.status !== 404) return { refused: current };
  const applied = await api.request('PATCH', object.path, {
    query: writeQuery(run.dryRun, { fieldManager: FIELD_MANAGER }),
    contentType: APPLY_PATCH,
    // JSON is YAML: the server receives exactly the object validated here.
    body: JSON.stringify(object.manifest.object),
    signal: run.signal,
  });
  if (applied.status !== 200 && applied.status !== 201) return { refused: applied };
  return { outcome: applyOutcome(current.status === 404 ? null : current.body, applied.body) };
}

async function deleteObject(run: ManifestRun, object: ResolvedObject): Promise<{ outcome: ObjectOutcome } | { refused: ApiResponse }> {
  const response = await run.target.api.request('DELETE', object.path, {
    query: writeQuery(run.dryRun, { propagationPolicy: 'Background' }),
    signal: run.signal,
  });
  if (response.status === 404) return { outcome: 'not found' };
  if (response.status !== 200 && response.status !== 202) return { refused: response };
  return { outcome: 'deleted' };
}
