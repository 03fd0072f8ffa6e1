import { RungateError } from '@rungate/contracts';
import { z } from 'zod';

export const RUNGATE_ACTION_API_VERSION = 'rungate.dev/v1';

/** Replicas a runbook may ask for; far above any sane workload, low enough to catch a typo's 1e9. */
export const MAX_REPLICAS = 10_000;

const workloadName = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'a Kubernetes object name');

/**
 * Runbook parameters render into YAML as quoted scalars, so `replicas: {{ .replicas }}`
 * arrives as the string "3": digits are accepted as well as a YAML integer.
 */
const replicas = z
  .union([z.number().int(), z.string().regex(/^\d{1,6}$/, 'digits only').transform(Number)])
  .pipe(z.number().int().min(0).max(MAX_REPLICAS));

const target = z.strictObject({
  kind: z.enum(['Deployment', 'StatefulSet']),
  name: workloadName,
  namespace: workloadName.optional(),
});

/**
 * The action document: a `.yaml` runbook that does what kubectl's imperative commands do,
 * for the two workload kinds whose rollout a runbook may drive.
 *
 * ```yaml
 * apiVersion: rungate.dev/v1
 * kind: Action
 * action: scale            # or restart
 * target: { kind: Deployment, name: web }
 * replicas: 3              # scale only
 * ```
 */
export const ActionDocument = z.discriminatedUnion('action', [
  z.strictObject({ apiVersion: z.literal(RUNGATE_ACTION_API_VERSION), kind: z.literal('Action'), action: z.literal('scale'), target, replicas }),
  z.strictObject({ apiVersion: z.literal(RUNGATE_ACTION_API_VERSION), kind: z.literal('Action'), action: z.literal('restart'), target }),
]);
export type WorkloadAction = z.infer<typeof ActionDocument>;

export function parseActionDocument(value: unknown): WorkloadAction {
  const parsed = ActionDocument.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new RungateError(
    'EXECUTION_FAILED',
    `the ${RUNGATE_ACTION_API_VERSION} Action document is invalid: ${where}${issue?.message ?? 'invalid'} ` +
      '(expected action: scale with target {kind: Deployment|StatefulSet, name} and replicas, or action: restart with target); nothing was applied',
  );
}
