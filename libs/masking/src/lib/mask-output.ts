import type { JsonValue, ProcessOutput, RunOutput, SqlColumn, SqlOutput } from '@rungate/contracts';
import { columnRuleFor, columnRuleMatchesName, type CompiledColumnRule } from './columns';
import { maskText } from './mask-text';
import type { MaskingProfile } from './profile';
import { applyStrategy, COLUMN_KIND } from './strategies';
import type { MaskingTally } from './tally';

/**
 * PostgreSQL types whose printed values can hold none of the detected entities (numbers too
 * small for a card, dates, UUIDs, booleans): their cells skip detection, which is most of
 * what makes masking a wide result cheap. int8, numeric, text, json and the rest are scanned.
 */
const OPAQUE_TYPES = new Set(['bool', 'int2', 'int4', 'oid', 'float4', 'float8', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'interval', 'uuid']);

function isOpaque(type: string): boolean {
  return OPAQUE_TYPES.has(type.endsWith('[]') ? type.slice(0, -2) : type);
}

/** Characters added by masking; while it stays ≤ 0 the output still fits the byte cap it was cut to. */
interface Growth {
  chars: number;
}

function maskString(text: string, profile: MaskingProfile, tally: MaskingTally, growth: Growth): string {
  const masked = maskText(text, profile, tally);
  if (masked !== text) growth.chars += masked.length - text.length;
  return masked;
}

/** Strings inside a value — jsonb keys and elements included — are masked in place; the shape stays. */
function maskJson(value: JsonValue, profile: MaskingProfile, tally: MaskingTally, growth: Growth): JsonValue {
  if (typeof value === 'string') return maskString(value, profile, tally, growth);
  if (typeof value === 'number') {
    // A card number stored as float8 or a bigint in jsonb is still a card number.
    const text = String(value);
    const masked = maskString(text, profile, tally, growth);
    if (masked === text) return value;
    growth.chars += 2;
    return masked;
  }
  if (Array.isArray(value)) return value.map((item) => maskJson(item, profile, tally, growth));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value)) out[maskString(key, profile, tally, growth)] = maskJson(item, profile, tally, growth);
    return out;
  }
  return value;
}

/** True when `text` is wholly something masking wrote, so masking it again would change it. */
function isOwnToken(text: string, profile: MaskingProfile): boolean {
  profile.ownTokens.lastIndex = 0;
  const match = profile.ownTokens.exec(text);
  return match !== null && match.index === 0 && match[0].length === text.length;
}

/** A column rule masks the whole cell whatever it holds; NULL stays NULL (it holds nothing). */
function maskCell(value: JsonValue, rule: CompiledColumnRule, profile: MaskingProfile, tally: MaskingTally, growth: Growth): JsonValue {
  if (value === null) return null;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (isOwnToken(text, profile)) return value;
  tally.add(COLUMN_KIND);
  const masked = applyStrategy(COLUMN_KIND, text, rule.rule, profile.hashKey);
  growth.chars += masked.length - text.length + (typeof value === 'string' ? 0 : 2);
  return masked;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/** The same cut as the PostgreSQL adapter: rows stop before their JSON array exceeds `maxBytes`. */
function fitRows(rows: Record<string, JsonValue>[], maxBytes: number): Record<string, JsonValue>[] {
  let bytes = 2;
  for (let i = 0; i < rows.length; i++) {
    bytes += jsonBytes(rows[i]) + (i > 0 ? 1 : 0);
    if (bytes > maxBytes) return rows.slice(0, i);
  }
  return rows;
}

/**
 * Every cell of every row: column rules first (by result name or source column), then entity
 * detection on what is left. The result keeps its columns, row count and keys; only cell
 * values change. `source` (what column rules needed) does not leave the executor.
 */
export function maskSqlOutput(output: SqlOutput, profile: MaskingProfile, tally: MaskingTally, maxBytes: number): SqlOutput {
  const plan = output.columns.map((column) => ({
    name: column.name,
    rule: columnRuleFor(profile.columns, column),
    opaque: isOpaque(column.type),
  }));
  const growth: Growth = { chars: 0 };
  const scanned = plan.filter((column) => column.rule || !column.opaque);
  let rows = output.rows.map((row) => {
    // Copied on the first change: most rows of a wide result change in a cell or two, some in none.
    let masked: Record<string, JsonValue> | undefined;
    for (const { name, rule } of scanned) {
      const value = row[name];
      if (value === undefined || value === null) continue;
      const next = rule ? maskCell(value, rule, profile, tally, growth) : maskJson(value, profile, tally, growth);
      if (next === value) continue;
      masked ??= { ...row };
      masked[name] = next;
    }
    return masked ?? row;
  });
  let truncated = output.truncated;
  if (growth.chars > 0) {
    const fitted = fitRows(rows, maxBytes);
    if (fitted.length < rows.length) {
      rows = fitted;
      truncated = true;
    }
  }
  const columns: SqlColumn[] = output.columns.map(({ name, type }) => ({ name, type }));
  return { ...output, columns, rows, truncated };
}

/**
 * The byte cap cut the output somewhere in its last word: a value cut there may fail its
 * detector's validation (12 digits of a card fail Luhn), so each stream's trailing partial
 * word — at most its last 128 characters — is withheld. `truncated` already says it was cut.
 */
const CUT_WORD = /\S{1,128}$/;

function withoutCutWord(text: string): string {
  return text.replace(CUT_WORD, '');
}

/** Cuts `text` to at most `bytes` UTF-8 bytes without splitting a character. */
function fitBytes(text: string, bytes: number): string {
  const encoded = Buffer.from(text);
  if (encoded.length <= bytes) return text;
  let end = Math.max(0, bytes);
  while (end > 0 && ((encoded[end] ?? 0) & 0xc0) === 0x80) end--;
  return encoded.subarray(0, end).toString('utf8');
}

export function maskProcessOutput(output: ProcessOutput, profile: MaskingProfile, tally: MaskingTally, maxBytes: number): ProcessOutput {
  const growth: Growth = { chars: 0 };
  const streams = output.truncated ? [withoutCutWord(output.stdout), withoutCutWord(output.stderr)] : [output.stdout, output.stderr];
  let [stdout, stderr] = streams.map((text) => maskString(text, profile, tally, growth)) as [string, string];
  let truncated = output.truncated;
  if (growth.chars > 0) {
    const fittedStdout = fitBytes(stdout, maxBytes);
    const fittedStderr = fitBytes(stderr, maxBytes - Buffer.byteLength(fittedStdout));
    if (fittedStdout !== stdout || fittedStderr !== stderr) {
      // Cut again after masking: the cut can fall inside a masked token, so the cut word goes too.
      stdout = withoutCutWord(fittedStdout);
      stderr = withoutCutWord(fittedStderr);
      truncated = true;
    }
  }
  return { ...output, stdout, stderr, truncated };
}

/**
 * The output stage of every executor (docs/design.md §2, step 4): SQL rows cell by cell, process
 * output stream by stream, within the run's byte cap. `truncated` stays true when it was,
 * and becomes true when masking's longer tokens made something no longer fit.
 */
export function maskRunOutput(output: RunOutput, profile: MaskingProfile, tally: MaskingTally, maxBytes: number): RunOutput {
  return output.kind === 'sql' ? maskSqlOutput(output, profile, tally, maxBytes) : maskProcessOutput(output, profile, tally, maxBytes);
}

/**
 * Databases quote row values in their errors. PostgreSQL: `Key (email)=(alice@example.com)
 * already exists` names the columns, `Failing row contains (…)` does not. MySQL and MariaDB:
 * `Duplicate entry '…' for key '…'` names an index (not necessarily its column) and
 * `Incorrect integer value: '…' for column …`. With column rules in the profile, a key's
 * values are masked when one of its columns has a rule; the others always, since any of
 * their columns could be one a rule masks.
 */
const KEY_VALUES = /Key \(([^()]*)\)=\(/g;
const KEY_VALUES_END = [') already exists', ') is not present', ') is still referenced', ') conflicts with', ') are not present'];
const FAILING_ROW = /Failing row contains \(/g;
const MYSQL_ECHOES: readonly { opening: RegExp; closing: string }[] = [
  { opening: /Duplicate entry '/g, closing: "' for key " },
  { opening: /Incorrect [\w ]{1,40} value: '/g, closing: "' for column " },
];

/**
 * Where a PostgreSQL tuple that opened at `from` closes: before the phrase that follows a key,
 * else before the `).` that ends the DETAIL sentence, else at the last `)`. Values may hold
 * parentheses themselves, so the end is found from the sentence, not by counting.
 */
function tupleEnd(message: string, from: number): number {
  const ends = KEY_VALUES_END.map((phrase) => message.indexOf(phrase, from)).filter((at) => at >= 0);
  if (ends.length > 0) return Math.min(...ends);
  const sqlstate = message.indexOf(' [SQLSTATE', from);
  const limit = sqlstate >= 0 ? sqlstate : message.length;
  const sentence = message.lastIndexOf(').', limit);
  if (sentence >= from) return sentence;
  const last = message.lastIndexOf(')', limit);
  return last >= from ? last : limit;
}

interface EchoedSpan {
  start: number;
  end: number;
  rule: CompiledColumnRule['rule'];
}

function echoedSpans(message: string, profile: MaskingProfile): EchoedSpan[] {
  const spans: EchoedSpan[] = [];
  const redact = { strategy: 'redact' as const };
  const each = (pattern: RegExp, found: (match: RegExpExecArray, start: number) => void) => {
    pattern.lastIndex = 0;
    for (let match = pattern.exec(message); match !== null; match = pattern.exec(message)) found(match, match.index + match[0].length);
  };
  each(KEY_VALUES, (match, start) => {
    const names = (match[1] as string).split(',').map((name) => name.trim().replace(/^"|"$/g, ''));
    const rule = profile.columns.find((candidate) => names.some((name) => columnRuleMatchesName(candidate, name)));
    if (rule) spans.push({ start, end: tupleEnd(message, start), rule: rule.rule });
  });
  each(FAILING_ROW, (_match, start) => spans.push({ start, end: tupleEnd(message, start), rule: redact }));
  for (const { opening, closing } of MYSQL_ECHOES) {
    // The value may hold quotes: it ends at the last closing phrase (MySQL names one value per message).
    each(opening, (_match, start) => {
      const end = message.lastIndexOf(closing);
      spans.push({ start, end: end >= start ? end : message.length, rule: redact });
    });
  }
  return spans.sort((a, b) => a.start - b.start);
}

function maskEchoedValues(message: string, profile: MaskingProfile, tally: MaskingTally): string {
  const spans = echoedSpans(message, profile);
  if (spans.length === 0) return message;
  let out = '';
  let at = 0;
  for (const span of spans) {
    if (span.start < at) continue;
    const values = message.slice(span.start, span.end);
    if (isOwnToken(values, profile) || values.length === 0) continue;
    out += message.slice(at, span.start) + applyStrategy(COLUMN_KIND, values, span.rule, profile.hashKey);
    at = span.end;
    tally.add(COLUMN_KIND);
  }
  return out + message.slice(at);
}

/** An error message of a run: entities like any text, and values a database echoes from rows. */
export function maskMessage(message: string, profile: MaskingProfile, tally: MaskingTally): string {
  const echoed = profile.columns.length > 0 ? maskEchoedValues(message, profile, tally) : message;
  return maskText(echoed, profile, tally);
}
