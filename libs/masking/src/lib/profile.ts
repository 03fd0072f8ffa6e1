import { createHash } from 'node:crypto';
import { canonicalJson } from '@rungate/audit-chain';
import { BuiltInEntity, NO_MASKING, type ConnectionConfig, type MaskingProfileConfig, type RuleConfig } from '@rungate/config';
import { compileColumnRule, type CompiledColumnRule } from './columns';
import type { Detector } from './detection';
import { BUILT_IN_DETECTORS } from './detectors';
import { customDetector } from './detectors/custom';
import { COLUMN_KIND, labelOf, type StrategyRule } from './strategies';
import { InternalError } from '@rungate/contracts';

/**
 * A profile ready to mask: detectors and regexes built once, when the configuration is
 * loaded, and shared by every run that names the profile.
 */
export interface MaskingProfile {
  readonly name: string;
  /** `maskingProfileDigest` of the definition it was compiled from. */
  readonly sha256: string;
  readonly threshold: number;
  readonly detectors: readonly Detector[];
  /** Entity kind → strategy, for built-in and custom entities. */
  readonly rules: ReadonlyMap<string, StrategyRule>;
  readonly columns: readonly CompiledColumnRule[];
  readonly hashKey?: Buffer;
  /**
   * What masking itself writes (`[EMAIL]`, `[EMAIL#…]`, `****1234`): a detection overlapping it
   * is dropped, so masking masked output changes nothing, whatever a custom pattern matches.
   */
  readonly ownTokens: RegExp;
}

const DIGEST_DOMAIN = 'rungate.masking.profile.v1\n';

/**
 * The SHA-256 of a profile's parsed definition (defaults applied, canonical JSON). Policy signs
 * it into the run ticket; an executor runs the ticket only if its own definition of that
 * profile has the same digest (ADR 14). The hash key's reference is part of it, its value is not.
 */
export function maskingProfileDigest(definition: MaskingProfileConfig): string {
  return createHash('sha256').update(DIGEST_DOMAIN).update(canonicalJson(definition)).digest('hex');
}

/**
 * The profile a run gets: the allowing rule's `masking` over its connection's. A rule's
 * `none` switches the connection's profile off for that rule; undefined means no masking.
 */
export function selectMaskingProfile(rule: Pick<RuleConfig, 'masking'> | undefined, connection: Pick<ConnectionConfig, 'masking'>): string | undefined {
  const selected = rule?.masking ?? connection.masking;
  return selected === NO_MASKING ? undefined : selected;
}

function ownTokensPattern(labels: readonly string[]): RegExp {
  const names = [...new Set(labels)].sort().join('|');
  return new RegExp(`\\[(?:${names})(?:#[g-v]{16})?\\]|(?<![A-Za-z0-9*])\\*{4}[A-Za-z0-9]{0,4}(?![A-Za-z0-9])`, 'g');
}

/** Builds a profile; `hashKey` is the resolved secret, which only executors hold. */
export function compileMaskingProfile(definition: MaskingProfileConfig, hashKey?: string): MaskingProfile {
  const rules = new Map<string, StrategyRule>();
  const detectors: Detector[] = [];
  for (const kind of BuiltInEntity.options) {
    const rule = definition.entities[kind];
    if (!rule) continue;
    rules.set(kind, rule);
    detectors.push(BUILT_IN_DETECTORS[kind]);
  }
  for (const entity of definition.custom) {
    rules.set(entity.name, { strategy: entity.strategy, ...(entity.keep === undefined ? {} : { keep: entity.keep }) });
    detectors.push(customDetector(entity));
  }
  const columns = definition.columns.map(compileColumnRule);
  const strategies = [...rules.values(), ...columns.map((column) => column.rule)].map((rule) => rule.strategy);
  if (strategies.includes('hash') && !hashKey) {
    throw new InternalError(`masking profile ${definition.name} uses the hash strategy but has no hash key`);
  }
  const labels = [...BuiltInEntity.options, ...definition.custom.map((entity) => entity.name), COLUMN_KIND].map(labelOf);
  return {
    name: definition.name,
    sha256: maskingProfileDigest(definition),
    threshold: definition.threshold,
    detectors,
    rules,
    columns,
    ...(hashKey ? { hashKey: Buffer.from(hashKey, 'utf8') } : {}),
    ownTokens: ownTokensPattern(labels),
  };
}
