import type { MaskingColumnRule } from '@rungate/config';
import type { StrategyRule } from './strategies';

/** Where a result column's values come from, when PostgreSQL says (a plain column of a table). */
export interface ColumnSource {
  schema: string;
  table: string;
  column: string;
}

export interface ColumnRef {
  /** The name in the result (an alias when the query gave one). */
  name: string;
  source?: ColumnSource;
}

export interface CompiledColumnRule {
  readonly match: string;
  readonly rule: StrategyRule;
  /** Glob segments, last the column; empty where the segment is `*` (anything, or nothing known). */
  readonly column: RegExp;
  readonly table?: RegExp;
  readonly schema?: RegExp;
}

/**
 * Identifiers are at most 63 bytes in PostgreSQL, so a glob's `.*` cannot backtrack far.
 * Case is ignored: a rule that masks more than asked fails safe, one that masks less does not.
 */
function globSegment(glob: string): RegExp | undefined {
  if (glob === '*') return undefined;
  const source = glob.replace(/[\\^$.+?()[\]{}|]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${source}$`, 'i');
}

export function compileColumnRule(config: MaskingColumnRule): CompiledColumnRule {
  const segments = config.match.split('.');
  const column = globSegment(segments[segments.length - 1] as string) ?? /^/;
  const table = segments.length >= 2 ? globSegment(segments[segments.length - 2] as string) : undefined;
  const schema = segments.length === 3 ? globSegment(segments[0] as string) : undefined;
  return { match: config.match, rule: { strategy: config.strategy, ...(config.keep === undefined ? {} : { keep: config.keep }) }, column, table, schema };
}

/**
 * `email` masks a result column named email, or one whose source column is email (an alias
 * does not hide it); `users.phone` and `public.users.phone` need the source PostgreSQL
 * reports, so a computed column (`lower(email)`) is left to the entity detectors.
 */
export function columnRuleMatches(rule: CompiledColumnRule, column: ColumnRef): boolean {
  if (!rule.table && !rule.schema) {
    return rule.column.test(column.name) || (column.source !== undefined && rule.column.test(column.source.column));
  }
  const source = column.source;
  if (!source) return false;
  return rule.column.test(source.column) && (!rule.table || rule.table.test(source.table)) && (!rule.schema || rule.schema.test(source.schema));
}

/**
 * For values an error message quotes by column name only (`Key (email)=(…)`): the table is
 * unknown there, so a rule naming a table matches by its column alone — masking more, not less.
 */
export function columnRuleMatchesName(rule: CompiledColumnRule, name: string): boolean {
  return rule.column.test(name);
}

export function columnRuleFor(rules: readonly CompiledColumnRule[], column: ColumnRef): CompiledColumnRule | undefined {
  return rules.find((rule) => columnRuleMatches(rule, column));
}
