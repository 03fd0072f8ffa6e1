import type { AuditEvent } from '@rungate/contracts';

/**
 * An event a security team wants to look at first: a run that failed or was refused, or a
 * call policy denied. Syslog severity and OCSF severity both derive from this one rule.
 */
export function isAdverse(event: AuditEvent): boolean {
  const status = event.outcome?.status;
  return status === 'failed' || status === 'denied' || status === 'refused' || event.decision?.effect === 'deny';
}
