import type { AuditEvent } from '@rungate/contracts';
import { isAdverse } from './severity';

/** OCSF schema version the mapping follows (https://schema.ocsf.io/1.1.0/classes/api_activity). */
export const OCSF_VERSION = '1.1.0';
export const OCSF_API_ACTIVITY_CLASS_UID = 6003;
export const OCSF_APPLICATION_ACTIVITY_CATEGORY_UID = 6;

export const OcsfActivity = { create: 1, read: 2, update: 3, delete: 4, other: 99 } as const;
export type OcsfActivityId = (typeof OcsfActivity)[keyof typeof OcsfActivity];

const ACTIVITY_NAMES: Record<OcsfActivityId, string> = { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 99: 'Other' };

export const OcsfStatus = { unknown: 0, success: 1, failure: 2, other: 99 } as const;
export type OcsfStatusId = (typeof OcsfStatus)[keyof typeof OcsfStatus];
const STATUS_NAMES: Record<OcsfStatusId, string> = { 0: 'Unknown', 1: 'Success', 2: 'Failure', 99: 'Other' };

export const OcsfSeverity = { informational: 1, medium: 3 } as const;
export type OcsfSeverityId = (typeof OcsfSeverity)[keyof typeof OcsfSeverity];
const SEVERITY_NAMES: Record<OcsfSeverityId, string> = { 1: 'Informational', 3: 'Medium' };

export interface OcsfResource {
  type: 'runbook' | 'connection';
  name: string;
  uid?: string;
  data?: Record<string, string>;
}

/** The subset of OCSF API Activity (6003) that Rungate fills. */
export interface OcsfApiActivity {
  class_uid: typeof OCSF_API_ACTIVITY_CLASS_UID;
  class_name: 'API Activity';
  category_uid: typeof OCSF_APPLICATION_ACTIVITY_CATEGORY_UID;
  category_name: 'Application Activity';
  activity_id: OcsfActivityId;
  activity_name: string;
  type_uid: number;
  type_name: string;
  time: number;
  severity_id: OcsfSeverityId;
  severity: string;
  status_id: OcsfStatusId;
  status: string;
  status_code?: string;
  status_detail?: string;
  duration?: number;
  message: string;
  actor: {
    user?: { name: string; groups: { name: string }[]; credential_uid?: string };
    app_name?: string;
  };
  src_endpoint: { ip?: string };
  http_request?: { user_agent: string };
  api: { operation: string; service: { name: 'rungate' }; request?: { uid: string } };
  resources?: OcsfResource[];
  metadata: {
    version: typeof OCSF_VERSION;
    product: { name: 'Rungate'; vendor_name: 'Rungate' };
    uid: string;
    correlation_uid?: string;
    original_time: string;
    log_name: 'AUDIT';
  };
  unmapped: Record<string, unknown>;
}

/**
 * A run record is created when the run starts and updated when it ends; every other step
 * (received, decided, approved, rejected, admin and catalog events) is not CRUD on an API
 * resource, so it is Other, with the Rungate step as activity_name.
 */
export function ocsfActivity(type: string): { id: OcsfActivityId; name: string } {
  if (type === 'audit.run.started') return { id: OcsfActivity.create, name: ACTIVITY_NAMES[OcsfActivity.create] };
  if (type === 'audit.run.completed' || type === 'audit.run.failed') return { id: OcsfActivity.update, name: ACTIVITY_NAMES[OcsfActivity.update] };
  const step = type.split('.').slice(1).join(' ');
  return { id: OcsfActivity.other, name: step.charAt(0).toUpperCase() + step.slice(1) };
}

export function ocsfStatus(event: AuditEvent): OcsfStatusId {
  switch (event.outcome?.status) {
    case 'succeeded':
      return OcsfStatus.success;
    case 'failed':
    case 'denied':
    case 'refused':
    case 'timed_out':
      return OcsfStatus.failure;
    case 'unknown':
      return OcsfStatus.unknown;
    // Its caller stopped it: neither a success nor a failure of the run itself.
    case 'cancelled':
      return OcsfStatus.other;
  }
  switch (event.decision?.effect) {
    case 'allow':
      return OcsfStatus.success;
    case 'deny':
      return OcsfStatus.failure;
    case 'approval_required':
      return OcsfStatus.other;
  }
  return OcsfStatus.unknown;
}

function summary(event: AuditEvent): string {
  const who = event.actor ? `${event.actor.user}${event.actor.agent ? ` via ${event.actor.agent}` : ''}` : event.source;
  const what = event.tool ?? event.runbook?.path;
  const result = event.outcome?.status ?? event.decision?.effect;
  return `${event.type}: ${who}${what ? ` ${what}` : ''}${result ? ` (${result})` : ''}`;
}

/** Pure: the same event always maps to the same OCSF object. Nothing is dropped: what has no OCSF field goes to `unmapped`. */
export function toOcsf(event: AuditEvent): OcsfApiActivity {
  const activity = ocsfActivity(event.type);
  const statusId = ocsfStatus(event);
  const severityId = isAdverse(event) ? OcsfSeverity.medium : OcsfSeverity.informational;
  const { v: _v, id, time, type, runId, actor, runbook, tool, connection, ...rest } = event;
  const statusCode = event.outcome?.errorCode ?? (event.outcome?.exitCode != null ? String(event.outcome.exitCode) : undefined);
  const statusDetail = event.outcome?.error ?? event.decision?.reason;
  const resources: OcsfResource[] = [];
  if (runbook) {
    resources.push({ type: 'runbook', name: runbook.path, uid: `${runbook.repository}:${runbook.path}@${runbook.commit}`, data: { ...runbook } });
  }
  if (connection) resources.push({ type: 'connection', name: connection.name, data: { type: connection.type } });
  return {
    class_uid: OCSF_API_ACTIVITY_CLASS_UID,
    class_name: 'API Activity',
    category_uid: OCSF_APPLICATION_ACTIVITY_CATEGORY_UID,
    category_name: 'Application Activity',
    activity_id: activity.id,
    activity_name: activity.name,
    type_uid: OCSF_API_ACTIVITY_CLASS_UID * 100 + activity.id,
    type_name: `API Activity: ${activity.name}`,
    time: Date.parse(time),
    severity_id: severityId,
    severity: SEVERITY_NAMES[severityId],
    status_id: statusId,
    status: STATUS_NAMES[statusId],
    ...(statusCode !== undefined ? { status_code: statusCode } : {}),
    ...(statusDetail !== undefined ? { status_detail: statusDetail } : {}),
    ...(event.outcome?.durationMs !== undefined ? { duration: event.outcome.durationMs } : {}),
    message: summary(event),
    actor: {
      ...(actor
        ? {
            user: {
              name: actor.user,
              groups: actor.groups.map((name) => ({ name })),
              ...(actor.tokenId ? { credential_uid: actor.tokenId } : {}),
            },
          }
        : {}),
      ...(actor?.agent ? { app_name: actor.agent } : {}),
    },
    src_endpoint: actor?.ip ? { ip: actor.ip } : {},
    ...(actor?.userAgent ? { http_request: { user_agent: actor.userAgent } } : {}),
    api: { operation: tool ?? type, service: { name: 'rungate' }, ...(runId ? { request: { uid: runId } } : {}) },
    ...(resources.length > 0 ? { resources } : {}),
    metadata: {
      version: OCSF_VERSION,
      product: { name: 'Rungate', vendor_name: 'Rungate' },
      uid: id,
      ...(runId ? { correlation_uid: runId } : {}),
      original_time: time,
      log_name: 'AUDIT',
    },
    unmapped: { type, ...rest },
  };
}
