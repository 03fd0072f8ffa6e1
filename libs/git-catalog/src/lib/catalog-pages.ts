import type { RepositoryCatalog } from '@rungate/contracts';
import { endWithin } from '@rungate/messaging';

/**
 * Cuts catalogs into one reply that fits a NATS message (`budgetBytes`, well under the
 * server's max_payload). Runbooks are taken in order from `offset` (of the first catalog; the
 * others start at 0) until the budget is spent; a catalog cut short says where to go on in
 * `nextOffset`, and every catalog is in the reply, if only with its header. Findings of
 * rejected runbooks travel with the page that holds the first runbooks.
 *
 * At least one runbook is always taken from the first catalog, so paging ends whatever a
 * single entry weighs.
 */
export function catalogPage(catalogs: readonly RepositoryCatalog[], offset: number, budgetBytes: number): RepositoryCatalog[] {
  let left = budgetBytes;
  return catalogs.map((catalog, index) => {
    const start = index === 0 ? offset : 0;
    const { nextOffset: _previous, ...header } = catalog;
    const withFindings = start === 0 ? catalog.rejected : [];
    left -= bytesOf({ ...header, runbooks: [], rejected: withFindings });
    const taken = endWithin(catalog.runbooks, start, left, index === 0);
    const end = taken.end;
    left = taken.left;
    // A later catalog the budget did not reach at all comes as a header: everything follows from 0.
    const deferred = end === start && end < catalog.runbooks.length;
    const page: RepositoryCatalog = { ...header, rejected: deferred ? [] : withFindings, runbooks: catalog.runbooks.slice(start, end) };
    if (end < catalog.runbooks.length) page.nextOffset = end;
    return page;
  });
}

function bytesOf(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}
