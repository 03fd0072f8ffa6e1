import type { RepositoryCatalog, RunbookEntry } from '@rungate/contracts';
import { catalogPage } from './catalog-pages';

function entry(i: number): RunbookEntry {
  return {
    repository: 'ops',
    path: `team/task_${i}.runbook.sql`,
    tool: `ops.team.task_${i}`,
    language: 'sql',
    sha256: String(i).padStart(64, '0'),
    metadata: { timeoutMs: 30_000, readOnly: true, destructive: false, idempotent: false, tags: [], connectionTypes: ['postgres'] },
    parameters: [],
  };
}

function catalog(repository: string, count: number): RepositoryCatalog {
  return {
    repository,
    commit: 'a'.repeat(40),
    syncedAt: '2026-11-24T00:00:00.000Z',
    runbooks: Array.from({ length: count }, (_, i) => entry(i)),
    rejected: [{ path: 'bad.runbook.sql', line: 1, column: 1, message: 'broken' }],
    stale: false,
  };
}

/** Follows nextOffset as policy does, returning every page's encoded size and the runbooks. */
function fetchAll(catalogs: RepositoryCatalog[], budget: number): { sizes: number[]; runbooks: Map<string, string[]>; rejected: number } {
  const sizes: number[] = [];
  const runbooks = new Map<string, string[]>();
  let rejected = 0;
  const take = (page: RepositoryCatalog[]) => {
    sizes.push(Buffer.byteLength(JSON.stringify({ catalogs: page })));
    for (const c of page) {
      runbooks.set(c.repository, [...(runbooks.get(c.repository) ?? []), ...c.runbooks.map((r) => r.tool)]);
      rejected += c.rejected.length;
    }
  };
  const first = catalogPage(catalogs, 0, budget);
  take(first);
  for (const c of first) {
    let next = c.nextOffset;
    while (next !== undefined) {
      const page = catalogPage(catalogs.filter((x) => x.repository === c.repository), next, budget);
      take(page);
      next = page[0]?.nextOffset;
    }
  }
  return { sizes, runbooks, rejected };
}

describe('catalogPage', () => {
  it('answers a small catalog in one page, unchanged', () => {
    const catalogs = [catalog('ops', 3)];
    expect(catalogPage(catalogs, 0, 1_000_000)).toEqual(catalogs);
  });

  it('pages 10,000 runbooks under the budget and loses none, in order', () => {
    const catalogs = [catalog('ops', 10_000), catalog('infra', 50)];
    const budget = 256 * 1024;
    const { sizes, runbooks, rejected } = fetchAll(catalogs, budget);
    expect(sizes.length).toBeGreaterThan(5);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(budget + 64);
    expect(runbooks.get('ops')).toEqual(catalogs[0]?.runbooks.map((r) => r.tool));
    expect(runbooks.get('infra')).toEqual(catalogs[1]?.runbooks.map((r) => r.tool));
    // Each repository's findings once, with its first page.
    expect(rejected).toBe(2);
  });

  it('always makes progress, even when one entry exceeds the budget', () => {
    const page = catalogPage([catalog('ops', 3)], 1, 10);
    expect(page[0]?.runbooks.map((r) => r.tool)).toEqual(['ops.team.task_1']);
    expect(page[0]?.nextOffset).toBe(2);
  });

  it('drops a stale nextOffset from a catalog given to it', () => {
    const page = catalogPage([{ ...catalog('ops', 2), nextOffset: 1 }], 0, 1_000_000);
    expect(page[0]?.nextOffset).toBeUndefined();
  });
});
