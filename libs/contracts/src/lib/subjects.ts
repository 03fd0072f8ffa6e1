import type { ConnectionType } from './catalog';

/**
 * Every subject carries its schema version in its name; a breaking change gets a new
 * subject so old and new services can run side by side during a rollout.
 */
export const Subjects = {
  policyAuthenticate: 'rungate.policy.authenticate.v1',
  policyAuthorize: 'rungate.policy.authorize.v1',
  /** authenticate.v1 and authorize.v1 in one request: the gateway's tools/call (ADR 24). */
  policyAuthorizeBearer: 'rungate.policy.authorize.v2',
  policyTools: 'rungate.policy.tools.v1',
  /** A user's own agent tokens, from the web console (ADR 23). */
  policyTokens: 'rungate.policy.tokens.v1',
  /** The web console's catalog: tools/list's runbooks with their origin and granting rules (ADR 23). */
  policyCatalogView: 'rungate.policy.catalog-view.v1',
  /** Held runs (ADR 18 §4): list, get, approve, reject; any policy replica answers. */
  policyApprovals: 'rungate.policy.approvals.v1',
  /** MCP tasks (ADR 18 §8): a held run as its requester's task, and the results of task-augmented calls that ran at once. */
  policyTasks: 'rungate.policy.tasks.v1',
  catalogGet: 'rungate.catalog.get.v1',
  catalogContent: 'rungate.catalog.content.v1',
  catalogUpdated: 'rungate.catalog.updated.v1',
  /** A client cancelled a call (event, to every gateway replica: the one serving the call stops it). */
  gatewayCancel: 'rungate.gateway.cancel.v1',
} as const;

export function execSubject(type: ConnectionType): string {
  return `rungate.exec.${type}.v1`;
}

/** Stop a run (event, to every replica of the type: the one running it stops it). */
export function execCancelSubject(type: ConnectionType): string {
  return `rungate.exec.${type}.cancel.v1`;
}

/** Gateway replicas; they answer no requests, but the transport needs a group for its events' sake. */
export const GATEWAY_QUEUE = 'gateways';

/** Replicas of one executor type share a NATS queue group, so each run goes to exactly one. */
export function executorQueue(type: ConnectionType): string {
  return `executors.${type}`;
}

export const AUDIT_STREAM = 'AUDIT';
export const AUDIT_SUBJECTS = 'audit.>';
