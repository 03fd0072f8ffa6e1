import type { BacklogItem } from '@rungate/contracts';

/** What the audit query counted, before it is ranked. */
export type BacklogCount = Omit<BacklogItem, 'score'>;

/** A statement explored once is exploration; from this many times on it asks to be a runbook. */
export const REPEATED_AT = 2;

/**
 * "Which scripts should exist", ranked: each thing agents asked for scores its count times the
 * number of distinct agents (and people) that asked, so one agent retrying in a loop ranks
 * below three teams each needing the same thing a few times. Repeated queries count only
 * from REPEATED_AT on. Ties go to the most recent.
 */
export function rankBacklog(counts: readonly BacklogCount[], limit: number): BacklogItem[] {
  return counts
    .filter((item) => item.kind !== 'repeated-query' || item.count >= REPEATED_AT)
    .map((item) => ({ ...item, score: item.count * Math.max(1, item.agents) * Math.max(1, item.users) }))
    .sort((a, b) => b.score - a.score || b.count - a.count || b.lastSeen.localeCompare(a.lastSeen) || a.key.localeCompare(b.key))
    .slice(0, limit);
}

const KIND_LABEL: Record<BacklogItem['kind'], string> = {
  'missing-tool': 'asked for a tool that does not exist',
  'denied-tool': 'denied a tool',
  'repeated-query': 'explored the same query',
};

/** The backlog as `rungate backlog` prints it. */
export function formatBacklog(items: readonly BacklogItem[]): string {
  if (items.length === 0) return 'nothing in the backlog: no denied tools and no repeated explorations in this period\n';
  return `${items
    .map((item, index) => {
      const who = `${item.agents} agent(s), ${item.users} user(s)`;
      const head = `${String(index + 1).padStart(2)}. score ${item.score}  ${item.count}× ${KIND_LABEL[item.kind]} — ${who}, last ${item.lastSeen}`;
      const example = item.kind === 'repeated-query' ? item.example.replace(/\s+/g, ' ').slice(0, 200) : item.example;
      const next =
        item.kind === 'repeated-query' && item.runId
          ? `\n    propose: rungate runbooks propose --from-run ${item.runId} --path <team>/<name>.sql`
          : '';
      return `${head}\n    ${example}${item.connection ? `  (on ${item.connection})` : ''}${next}`;
    })
    .join('\n')}\n`;
}
