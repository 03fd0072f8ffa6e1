import type { AuditEventInput } from '@rungate/contracts';
import type { CatalogPublication } from '@rungate/git-catalog';
import { derivedEventId } from '@rungate/messaging';

/** Rejected runbooks audited one by one per commit; beyond this, one summary event. */
export const MAX_REJECTED_EVENTS = 100;

const actor = { user: 'system:git-sync', groups: [] };

/**
 * Event ids derive from what happened, so a commit published twice (a lock handover, a
 * retry) is stored once within the AUDIT stream's duplicate window.
 */
function eventId(...parts: string[]): string {
  return derivedEventId(parts.join('\0'));
}

/** `audit.catalog.updated`, then one `audit.catalog.rejected` per withheld runbook. */
export function catalogAuditEvents(publication: CatalogPublication): AuditEventInput[] {
  const { catalog, previousCommit, rejected } = publication;
  const { repository, commit } = catalog;
  const events: AuditEventInput[] = [
    {
      id: eventId('catalog.updated', repository, previousCommit ?? '', commit),
      type: 'audit.catalog.updated',
      source: 'git-sync',
      actor,
      details: {
        repository,
        commit,
        ...(previousCommit ? { previousCommit } : {}),
        runbooks: catalog.runbooks.length,
        rejected: rejected.length,
      },
    },
  ];
  for (const file of rejected.slice(0, MAX_REJECTED_EVENTS)) {
    events.push({
      id: eventId('catalog.rejected', repository, commit, file.path),
      type: 'audit.catalog.rejected',
      source: 'git-sync',
      actor,
      ...(file.sha256 ? { runbook: { repository, path: file.path, commit, sha256: file.sha256 } } : {}),
      details: {
        repository,
        commit,
        path: file.path,
        findings: file.findings.map((f) => ({ location: `${f.path}:${f.line}:${f.column}`, message: f.message })),
      },
    });
  }
  if (rejected.length > MAX_REJECTED_EVENTS) {
    events.push({
      id: eventId('catalog.rejected', repository, commit, '(more)'),
      type: 'audit.catalog.rejected',
      source: 'git-sync',
      actor,
      details: { repository, commit, omitted: rejected.length - MAX_REJECTED_EVENTS, paths: rejected.slice(MAX_REJECTED_EVENTS).map((r) => r.path) },
    });
  }
  return events;
}
