import { createHash } from 'node:crypto';
import { staticTokenHolder, type RungateConfig } from './schema';

/** One key of an entry whose value changed; `before` absent when added, `after` absent when removed. */
export interface KeyChange {
  key: string;
  before?: unknown;
  after?: unknown;
}

export interface EntryChange {
  name: string;
  keys: KeyChange[];
}

/** What changed in one section of rungate.yaml, entry by entry (entries by name). */
export interface SectionChanges {
  added: string[];
  removed: string[];
  changed: EntryChange[];
}

/**
 * The sections a change is audited by (`audit.admin.<section>.changed`): the named lists of
 * rungate.yaml, and `settings` for its single blocks (gateway, oidc, tickets, gitSync, audit, console
 * but its sinks). `tokens` are named by a prefix of their hash, never the token.
 */
export const CONFIG_SECTIONS = ['rules', 'users', 'tokens', 'connections', 'repositories', 'guardrails', 'masking', 'sinks', 'settings'] as const;
export type ConfigSection = (typeof CONFIG_SECTIONS)[number];
export type ConfigChanges = Partial<Record<ConfigSection, SectionChanges>>;

/** A value as the record keeps it: JSON, cut when long (a whole guardrail pattern list is not needed to see it changed). */
const MAX_VALUE_CHARS = 200;
/** Changed entries and keys listed per section at most; the counts say how many more. */
const MAX_LISTED = 100;

function stable(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

function recorded(value: unknown): unknown {
  if (value === undefined) return undefined;
  const text = stable(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…` : JSON.parse(text);
}

/** Leaves of an entry by dotted key; arrays are leaves (a list of groups is one value). */
function leaves(value: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) leaves(inner, prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix) {
    out.set(prefix, value);
  }
  return out;
}

function keyChanges(before: unknown, after: unknown, redact: (key: string, value: unknown) => unknown): KeyChange[] {
  const old = leaves(before);
  const now = leaves(after);
  const keys = [...new Set([...old.keys(), ...now.keys()])].sort();
  return keys
    .filter((key) => stable(old.get(key)) !== stable(now.get(key)))
    .map((key) => ({
      key,
      ...(old.has(key) ? { before: recorded(redact(key, old.get(key))) } : {}),
      ...(now.has(key) ? { after: recorded(redact(key, now.get(key))) } : {}),
    }));
}

const keepValue = (_key: string, value: unknown) => value;

function diffNamed<T>(
  before: readonly T[],
  after: readonly T[],
  name: (item: T, index: number) => string,
  redact = keepValue,
  valueOf: (item: T) => unknown = (item) => item,
): SectionChanges {
  const old = new Map(before.map((item, index) => [name(item, index), valueOf(item)]));
  const now = new Map(after.map((item, index) => [name(item, index), valueOf(item)]));
  const changed: EntryChange[] = [];
  for (const [key, item] of now) {
    if (!old.has(key) || stable(old.get(key)) === stable(item)) continue;
    changed.push({ name: key, keys: keyChanges(old.get(key), item, redact) });
  }
  return { added: [...now.keys()].filter((k) => !old.has(k)), removed: [...old.keys()].filter((k) => !now.has(k)), changed };
}

/** Lists kept to MAX_LISTED entries each, so one event holds any change. */
function bounded(changes: SectionChanges): SectionChanges & { truncated?: { added: number; removed: number; changed: number } } {
  const over = changes.added.length > MAX_LISTED || changes.removed.length > MAX_LISTED || changes.changed.length > MAX_LISTED;
  return {
    added: changes.added.slice(0, MAX_LISTED),
    removed: changes.removed.slice(0, MAX_LISTED),
    changed: changes.changed.slice(0, MAX_LISTED).map((c) => ({ name: c.name, keys: c.keys.slice(0, MAX_LISTED) })),
    ...(over ? { truncated: { added: changes.added.length, removed: changes.removed.length, changed: changes.changed.length } } : {}),
  };
}

const isEmpty = (changes: SectionChanges) => changes.added.length === 0 && changes.removed.length === 0 && changes.changed.length === 0;

/** Guardrails and masking profiles are named; anything without a name is told apart by its place. */
function nameOf(item: unknown, index: number): string {
  const name = item !== null && typeof item === 'object' ? (item as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? name : `#${index}`;
}

/** A static token is named by the first 12 hex digits of its hash, which is also its token id. */
const tokenName = (token: RungateConfig['tokens'][number]) => `${token.sha256.slice(0, 12)} (${staticTokenHolder(token)})`;
const tokenValue = (key: string, value: unknown) => (key === 'sha256' && typeof value === 'string' ? `${value.slice(0, 12)}…` : value);

/** The single blocks of rungate.yaml, each one entry of the `settings` section. */
function settingsOf(config: RungateConfig): { name: string; value: unknown }[] {
  const { sinks: _sinks, ...audit } = config.audit;
  return [
    { name: 'gateway', value: config.gateway },
    { name: 'oidc', value: config.oidc },
    { name: 'tickets', value: config.tickets },
    { name: 'gitSync', value: config.gitSync },
    { name: 'audit', value: audit },
    { name: 'console', value: config.console },
  ].filter((block) => block.value !== undefined);
}

/**
 * What an operator changed in rungate.yaml, section by section, entry by name, key by key,
 * with the values before and after. Only what the file holds is compared: secrets are
 * references there (`env:NAME`, `file:/path`), never values, and a static token appears as
 * a prefix of its hash. Sections without a change are left out.
 */
export function diffConfig(before: RungateConfig, after: RungateConfig): ConfigChanges {
  const sections: Record<ConfigSection, SectionChanges> = {
    rules: diffNamed(before.rules, after.rules, (r) => r.name),
    users: diffNamed(before.users, after.users, (u) => u.name),
    tokens: diffNamed(before.tokens, after.tokens, tokenName, tokenValue),
    connections: diffNamed(before.connections, after.connections, (c) => c.name),
    repositories: diffNamed(before.repositories, after.repositories, (r) => r.name),
    guardrails: diffNamed(before.guardrails, after.guardrails, nameOf),
    masking: diffNamed(before.masking, after.masking, nameOf),
    sinks: diffNamed(before.audit.sinks, after.audit.sinks, (s) => s.name),
    settings: diffNamed(settingsOf(before), settingsOf(after), (block) => block.name, keepValue, (block) => block.value),
  };
  const out: ConfigChanges = {};
  for (const section of CONFIG_SECTIONS) if (!isEmpty(sections[section])) out[section] = bounded(sections[section]);
  return out;
}

export function configFingerprint(config: RungateConfig): string {
  return createHash('sha256').update(stable(config)).digest('hex');
}
