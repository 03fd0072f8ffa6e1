import { createHash } from 'node:crypto';
import type { RungateConfig } from './schema';

export interface SectionDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface AdminChanges {
  rules: SectionDiff;
  guardrails: SectionDiff;
  users: SectionDiff;
  tokens: SectionDiff;
}

function stable(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

function diffSection<T>(before: readonly T[], after: readonly T[], key: (item: T) => string): SectionDiff {
  const old = new Map(before.map((item) => [key(item), stable(item)]));
  const now = new Map(after.map((item) => [key(item), stable(item)]));
  return {
    added: [...now.keys()].filter((k) => !old.has(k)),
    removed: [...old.keys()].filter((k) => !now.has(k)),
    changed: [...now.keys()].filter((k) => old.has(k) && old.get(k) !== now.get(k)),
  };
}

/** What an operator changed in the access-relevant parts of rungate.yaml, by name. */
export function diffAdmin(before: RungateConfig, after: RungateConfig): AdminChanges {
  return {
    rules: diffSection(before.rules, after.rules, (r) => r.name),
    guardrails: diffSection(before.guardrails, after.guardrails, (g) => g.name),
    users: diffSection(before.users, after.users, (u) => u.name),
    // Tokens are named by a prefix of their hash: enough to correlate, useless to an attacker.
    tokens: diffSection(before.tokens, after.tokens, (t) => `${t.sha256.slice(0, 12)} (${t.user}/${t.agent})`),
  };
}

export function isEmptyDiff(diff: SectionDiff): boolean {
  return diff.added.length === 0 && diff.removed.length === 0 && diff.changed.length === 0;
}

export function configFingerprint(config: RungateConfig): string {
  return createHash('sha256').update(stable(config)).digest('hex');
}
