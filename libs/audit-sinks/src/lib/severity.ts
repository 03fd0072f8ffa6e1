import type { AuditEvent } from '@rungate/contracts';

/**
 * An event a security team wants to look at first: a run that failed, timed out (stopped
 * part-way) or was refused, or a call policy denied. A run its own caller cancelled is not.
 * Syslog severity and OCSF severity both derive from this one rule.
 */
export function isAdverse(event: AuditEvent): boolean {
  const status = event.outcome?.status;
  return status === 'failed' || status === 'timed_out' || status === 'denied' || status === 'refused' || event.decision?.effect === 'deny';
}
