import { AuditEvent } from '@rungate/contracts';
import type { CatalogPublication } from '@rungate/git-catalog';
import { MAX_REJECTED_EVENTS, catalogAuditEvents } from './catalog-audit';

const commit = 'c'.repeat(40);
const previousCommit = 'b'.repeat(40);

function publication(rejectedCount: number): CatalogPublication {
  const rejected = Array.from({ length: rejectedCount }, (_, i) => ({
    path: `bad${i}.runbook.sql`,
    sha256: 'f'.repeat(64),
    findings: [{ path: `bad${i}.runbook.sql`, line: 2, column: 35, message: 'parameter email: a text value cannot stand bare in SQL' }],
  }));
  return {
    previousCommit,
    rejected,
    catalog: { repository: 'ops', commit, syncedAt: '2026-01-01T00:00:00.000Z', runbooks: [], rejected: rejected.flatMap((r) => r.findings), stale: false },
  };
}

describe('catalogAuditEvents', () => {
  it('records the update with the commits and counts, and each withheld runbook with file:line:col', () => {
    const events = catalogAuditEvents(publication(1));
    expect(events.map((e) => e.type)).toEqual(['audit.catalog.updated', 'audit.catalog.rejected']);
    expect(events[0]).toMatchObject({ source: 'git-sync', details: { repository: 'ops', commit, previousCommit, runbooks: 0, rejected: 1 } });
    expect(events[1]).toMatchObject({
      runbook: { repository: 'ops', path: 'bad0.runbook.sql', commit, sha256: 'f'.repeat(64) },
      details: { findings: [{ location: 'bad0.runbook.sql:2:35', message: expect.stringContaining('bare in SQL') }] },
    });
    for (const event of events) expect(AuditEvent.safeParse({ v: 1, time: new Date().toISOString(), ...event }).success).toBe(true);
  });

  it('derives event ids from the change, so a re-published commit is stored once', () => {
    const first = catalogAuditEvents(publication(2)).map((e) => e.id);
    const again = catalogAuditEvents(publication(2)).map((e) => e.id);
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(first.length);
    const later = catalogAuditEvents({ ...publication(0), previousCommit: commit, catalog: { ...publication(0).catalog, commit: 'd'.repeat(40) } });
    expect(later[0]?.id).not.toBe(first[0]);
  });

  it('summarises beyond the per-commit limit instead of flooding the audit stream', () => {
    const events = catalogAuditEvents(publication(MAX_REJECTED_EVENTS + 5));
    expect(events).toHaveLength(1 + MAX_REJECTED_EVENTS + 1);
    expect(events.at(-1)).toMatchObject({ type: 'audit.catalog.rejected', details: { omitted: 5 } });
  });
});
