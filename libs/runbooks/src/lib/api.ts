import { createHash } from 'node:crypto';
import type { ParameterSpec, RunbookFinding, RunbookLanguage, RunbookMetadata } from '@rungate/contracts';
import { MARKER, lexFor, type Context, type ContextResult, type LexResult } from './contexts';
import { collectDeclarations, type Occurrence, type OutputHelper } from './declarations';
import { POSTGRES, dialectKey, dialectSuffix, lexSqlDialect, sqlDialectsFor, type SqlDialect } from './dialects';
import { escapeMysql } from './mysql';
import { shellDouble, shellSingle, sqlEString, sqlIdent, sqlSingle, yamlDouble, yamlSingle } from './escape';
import { readMetadata } from './metadata';
import { parseTemplate, positionAt, type Placeholder, type Segment } from './template';
import { validateValues, type ParameterError } from './validate';
import { InternalError } from '@rungate/contracts';

export type { ParameterError } from './validate';

export const MAX_RUNBOOK_BYTES = 1024 * 1024;

/** A parsed runbook: declarations merged, metadata read, body lexed and ready to render. */
export interface ParsedRunbook {
  readonly path: string;
  readonly language: RunbookLanguage;
  readonly metadata: RunbookMetadata;
  readonly parameters: readonly ParameterSpec[];
  /** sha256 hex of the source file as stored in git. */
  readonly sha256: string;
}

export type ParseResult = { ok: true; runbook: ParsedRunbook } | { ok: false; findings: RunbookFinding[] };
export type ValidationResult = { ok: true; values: Record<string, string> } | { ok: false; errors: ParameterError[] };

/** A value that cannot be written into its context unchanged (e.g. a line break in a YAML '…' scalar). */
export class RenderError extends Error {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(`${parameter}: ${message}`);
    this.name = 'RenderError';
  }
}

interface Compiled {
  segments: Segment[];
  /** By language, or for SQL by dialect (dialectKey): each dialect lexes the body its own way. */
  occurrences: Record<string, { occurrence: Occurrence; context: Context }[]>;
  specs: Map<string, ParameterSpec>;
}

type Report = (message: string, line?: number, column?: number) => void;

/**
 * Places every placeholder once per SQL dialect the runbook may run on. A finding that holds
 * for some dialects only says which (`… (MySQL with NO_BACKSLASH_ESCAPES)`).
 */
function placeSqlDialects(
  dialects: readonly SqlDialect[],
  skeleton: string,
  place: (lexed: LexResult, report: Report) => Compiled['occurrences'][string],
  at: Report,
  occurrences: Compiled['occurrences'],
): void {
  const found = new Map<string, { message: string; line?: number; column?: number; dialects: SqlDialect[] }>();
  for (const dialect of dialects) {
    occurrences[dialectKey(dialect)] = place(lexSqlDialect(dialect, skeleton), (message, line, column) => {
      const key = `${line ?? 1}:${column ?? 1}:${message}`;
      const entry = found.get(key) ?? { message, line, column, dialects: [] };
      entry.dialects.push(dialect);
      found.set(key, entry);
    });
  }
  for (const { message, line, column, dialects: having } of found.values()) at(`${message}${dialectSuffix(having, dialects)}`, line, column);
}

const compiled = new WeakMap<ParsedRunbook, Compiled>();

const LANGUAGES: [RegExp, RunbookLanguage][] = [
  [/\.runbook\.sql$/i, 'sql'],
  [/\.runbook\.(sh|bash)$/i, 'shell'],
  [/\.runbook\.ya?ml$/i, 'kubernetes'],
];

export function isRunbookPath(path: string): boolean {
  return (path.split('/').pop() ?? '').includes('.runbook.');
}

export function runbookLanguage(path: string): RunbookLanguage | undefined {
  return LANGUAGES.find(([re]) => re.test(path))?.[1];
}

/** `postgres/get_user.runbook.sql` in repository `demo` → `demo.postgres.get_user`. */
export function toolName(repository: string, path: string): string {
  const withoutSuffix = path.replace(/\.runbook\.[^/]*$/, '');
  return `${repository}.${withoutSuffix.split('/').filter(Boolean).join('.')}`.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 128);
}

const FREE_TEXT_FIX = 'quote it (\'{{ .x }}\'), declare type "number", "boolean" or "identifier", or use options';

type QuotingHelper = Extract<OutputHelper, { kind: 'squote' | 'dquote' | 'quotechar' }>;
type TransformHelper = Extract<OutputHelper, { kind: 'encodeb64' | 'decodeb64' }>;
const isQuoting = (h: OutputHelper): h is QuotingHelper => h.kind === 'squote' || h.kind === 'dquote' || h.kind === 'quotechar';
const isTransform = (h: OutputHelper): h is TransformHelper => h.kind === 'encodeb64' || h.kind === 'decodeb64';

/** What a transforming helper leaves: no longer a value of the declared type, whatever it was. */
const TRANSFORMED: Record<TransformHelper['kind'], string> = {
  encodeb64: 'base64 text (letters, digits, "+", "/" and "=")',
  decodeb64: 'arbitrary text',
};

/** The placeholder as the runbook should write it, for a finding's fix. */
function pipelineSource(placeholder: Placeholder, calls: Placeholder['calls']): string {
  const call = ({ fn, args }: Placeholder['calls'][number]) => [fn, ...args.map((a) => (typeof a === 'number' ? String(a) : JSON.stringify(a)))].join(' ');
  return `{{ ${[`.${placeholder.name}`, ...calls.map(call)].join(' | ')} }}`;
}

const QUOTING_FNS = new Set(['squote', 'dquote', 'quotechar']);

/**
 * Whether a placeholder in this context with these helpers has a safe rendering. The value
 * that lands is what the pipeline's last function makes of it: after encodeb64 or decodeb64
 * it is text, whatever type was declared, so it is safe only where text is escaped for the
 * context — inside quotes, or quoted by a quoting helper that ends the pipeline.
 */
function contextProblem(context: Context, occurrence: Occurrence, spec: ParameterSpec): string | undefined {
  const { helpers, placeholder } = occurrence;
  const quoting = helpers.filter(isQuoting);
  for (const h of quoting) {
    if (h.kind === 'quotechar' && h.char !== "'" && h.char !== '"') return `quotechar "${h.char}" is not a quote this context can escape; use squote or dquote`;
  }
  if (quoting.length > 1) return 'use one quoting helper (squote, dquote or quotechar), not several';
  const bare = context.context === 'bare' || context.context === 'scalar';
  if (quoting.length && !bare) return 'is already inside quotes; remove squote/dquote/quotechar';
  const lastTransform = helpers.filter(isTransform).pop();
  if (quoting.length && helpers.indexOf(quoting[0] as QuotingHelper) < helpers.indexOf(lastTransform as TransformHelper)) {
    const reordered = [...placeholder.calls.filter((c) => !QUOTING_FNS.has(c.fn)), ...placeholder.calls.filter((c) => QUOTING_FNS.has(c.fn))];
    return `the quoting helper must end the pipeline, after ${lastTransform?.kind}: write ${pipelineSource(placeholder, reordered)}`;
  }
  if ((context.language === 'sql' || context.language === 'mysql') && context.context === 'bare' && quoting.length === 0) {
    if (lastTransform) {
      const quoted = pipelineSource(placeholder, [...placeholder.calls, { fn: 'squote', args: [] }]);
      return `${lastTransform.kind} makes ${TRANSFORMED[lastTransform.kind]}, which cannot stand bare in SQL whatever the declared type: write ${quoted}, or put the placeholder inside '…'`;
    }
    const safe = ['number', 'boolean', 'identifier', 'select'].includes(spec.type);
    if (!safe) return `a ${spec.type} value cannot stand bare in SQL: ${FREE_TEXT_FIX}`;
  }
  return undefined;
}

export function parseRunbook(path: string, source: string): ParseResult {
  const findings: RunbookFinding[] = [];
  const at = (message: string, line = 1, column = 1) => findings.push({ path, line, column, message });
  const language = runbookLanguage(path);
  if (!language) {
    at(`unsupported runbook extension: use .runbook.sql, .runbook.sh, .runbook.bash, .runbook.yaml or .runbook.yml`);
    return { ok: false, findings };
  }
  if (Buffer.byteLength(source, 'utf8') > MAX_RUNBOOK_BYTES) {
    at(`runbook is larger than ${MAX_RUNBOOK_BYTES} bytes`);
    return { ok: false, findings };
  }
  if (source.includes(MARKER)) {
    const p = positionAt(source, source.indexOf(MARKER));
    at('the character U+E000 is reserved', p.line, p.column);
  }
  if (source.includes('\u0000')) at('runbooks must not contain NUL characters');
  const meta = readMetadata(language, source);
  meta.findings.forEach((f) => at(f.message, f.position.line, f.position.column));
  const template = parseTemplate(source);
  template.errors.forEach((e) => at(e.message, e.position.line, e.position.column));
  const placeholders = template.segments.flatMap((s) => (s.kind === 'placeholder' ? [s.placeholder] : []));
  const declarations = collectDeclarations(placeholders);
  declarations.findings.forEach((f) => at(f.message, f.position.line, f.position.column));
  const specs = new Map(declarations.parameters.map((p) => [p.name, p]));

  const skeleton = template.segments.map((s) => (s.kind === 'text' ? s.text : MARKER)).join('');
  const place = (lexed: LexResult, report: Report): Compiled['occurrences'][string] => {
    for (const open of lexed.unterminated) {
      const skeletonToSource = mapOffset(template.segments, open.offset);
      const p = positionAt(source, skeletonToSource);
      report(`unterminated ${open.what}`, p.line, p.column);
    }
    const occurrences: Compiled['occurrences'][string] = [];
    if (lexed.markers.length !== declarations.occurrences.length) {
      // Fail closed: every placeholder must have exactly one known context.
      report('internal error: could not determine the context of every placeholder; simplify the surrounding quoting');
    }
    declarations.occurrences.forEach((occurrence, index) => {
      const result = lexed.markers[index] as ContextResult | undefined;
      const { line, column } = occurrence.placeholder.position;
      if (!result) return;
      if (!result.ok) {
        report(`parameter ${occurrence.placeholder.name}: ${result.problem}; ${result.fix}`, line, column);
        return;
      }
      const spec = specs.get(occurrence.placeholder.name) as ParameterSpec;
      const problem = contextProblem(result.context, occurrence, spec);
      if (problem) report(`parameter ${occurrence.placeholder.name}: ${problem}`, line, column);
      occurrences.push({ occurrence, context: result.context });
    });
    return occurrences;
  };
  const occurrences: Compiled['occurrences'] = {};
  if (language === 'sql') placeSqlDialects(sqlDialectsFor(meta.metadata.connectionTypes), skeleton, place, at, occurrences);
  else occurrences[language] = place(lexFor(language, skeleton), at);
  if (findings.length) return { ok: false, findings: findings.sort((a, b) => a.line - b.line || a.column - b.column) };
  const runbook: ParsedRunbook = {
    path,
    language,
    metadata: meta.metadata,
    parameters: declarations.parameters,
    sha256: createHash('sha256').update(source, 'utf8').digest('hex'),
  };
  compiled.set(runbook, { segments: template.segments, occurrences, specs });
  return { ok: true, runbook };
}

/** Offsets in the skeleton (one marker per placeholder) back to offsets in the source. */
function mapOffset(segments: Segment[], skeletonOffset: number): number {
  let skeleton = 0;
  for (const segment of segments) {
    const length = segment.kind === 'text' ? segment.text.length : 1;
    if (skeletonOffset < skeleton + length) {
      return segment.kind === 'text' ? skeletonOffset - skeleton + sourceStart(segments, segment) : segment.placeholder.start;
    }
    skeleton += length;
  }
  return 0;
}

function sourceStart(segments: Segment[], target: Segment): number {
  let offset = 0;
  for (const segment of segments) {
    if (segment === target) return offset;
    offset = segment.kind === 'text' ? offset + segment.text.length : segment.placeholder.end;
  }
  return offset;
}

export function validateArguments(runbook: Pick<ParsedRunbook, 'parameters'>, args: Record<string, unknown>): ValidationResult {
  return validateValues(runbook.parameters, args);
}

function transform(parameter: string, value: string, helpers: OutputHelper[]): string {
  let result = value;
  for (const helper of helpers) {
    if (helper.kind === 'encodeb64') result = Buffer.from(result, 'utf8').toString('base64');
    if (helper.kind === 'decodeb64') {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(result) || result.length % 4 !== 0) throw new RenderError(parameter, 'is not valid base64');
      result = Buffer.from(result, 'base64').toString('utf8');
      if (result.includes('\u0000') || result.includes('\ufffd')) throw new RenderError(parameter, 'decodes to bytes that are not text');
    }
  }
  return result;
}

function escapeFor(context: Context, spec: ParameterSpec, helpers: OutputHelper[], value: string): string {
  const quote = helpers.find(isQuoting);
  // After encodeb64/decodeb64 the value is text, whatever the declared type: never bare.
  const type = helpers.some(isTransform) ? 'text' : spec.type;
  const single = quote?.kind === 'squote' || (quote?.kind === 'quotechar' && quote.char === "'");
  const double = quote?.kind === 'dquote' || (quote?.kind === 'quotechar' && quote.char === '"');
  // An optional number or identifier given no value would stand bare as nothing and change the
  // statement's shape (`SELECT {{ .a }} - 1` becoming `SELECT  - 1`, `replicas:` becoming null).
  const bare = !quote && (((context.language === 'sql' || context.language === 'mysql') && context.context === 'bare') || (context.language === 'kubernetes' && context.context === 'scalar'));
  if (bare && value === '' && (type === 'number' || (type === 'identifier' && context.language !== 'kubernetes'))) {
    throw new RenderError(spec.name, `has no value, and a bare ${type} needs one: give it, or declare the parameter required or with a default`);
  }
  switch (context.language) {
    case 'sql':
      if (context.context === 'single') return sqlSingle(value);
      if (context.context === 'estring') return sqlEString(value);
      if (context.context === 'ident') return sqlIdent(value);
      if (single) return `'${sqlSingle(value)}'`;
      if (double) return `"${sqlIdent(value)}"`;
      if (type === 'number') return value.startsWith('-') ? `(${value})` : value;
      if (type === 'boolean') return value === 'true' ? 'TRUE' : 'FALSE';
      if (type === 'identifier') return `"${sqlIdent(value)}"`;
      return `'${sqlSingle(value)}'`;
    case 'mysql':
      return escapeMysql(value, { context: context.context, quoting: context.quoting, quote: single ? "'" : double ? '"' : undefined, type });
    case 'shell':
      if (context.context === 'single') return shellSingle(value);
      if (context.context === 'double') return shellDouble(value);
      return double ? `"${shellDouble(value)}"` : `'${shellSingle(value)}'`;
    case 'kubernetes': {
      if (context.context === 'double') return yamlDouble(value);
      const inSingle = context.context === 'single' || single;
      if (inSingle) {
        const escaped = yamlSingle(value);
        if (escaped === undefined) throw new RenderError(spec.name, "contains a line break or control character, which a YAML '…' scalar cannot hold; the runbook should use a double-quoted scalar");
        return context.context === 'single' ? escaped : `'${escaped}'`;
      }
      // A whole plain scalar typed number or boolean stays one: `replicas: {{ .n | type "number" }}`
      // must be an integer to the API server, and validation left only digits, sign, point, exponent.
      if (!quote && type === 'number') return value;
      if (!quote && type === 'boolean') return value === 'true' ? 'true' : 'false';
      return `"${yamlDouble(value)}"`;
    }
  }
}

/** The placements a SQL runbook was compiled with for a dialect; the only one when none is named. */
function occurrencesFor(runbook: ParsedRunbook, compiledRunbook: Compiled, dialect: SqlDialect | undefined): Compiled['occurrences'][string] {
  if (runbook.language !== 'sql') return compiledRunbook.occurrences[runbook.language] ?? [];
  const keys = Object.keys(compiledRunbook.occurrences);
  const key = dialect ? dialectKey(dialect) : keys.length === 1 ? keys[0] : dialectKey(POSTGRES);
  const occurrences = key === undefined ? undefined : compiledRunbook.occurrences[key];
  if (!occurrences) {
    throw new RenderError('connection', dialect ? `${runbook.path} is not a runbook for ${dialect.kind} connections (see its @connection-types)` : `${runbook.path} runs on several SQL dialects; name the connection's`);
  }
  return occurrences;
}

/**
 * Renders validated values, each escaped for the exact context it stands in. A SQL runbook
 * is rendered for the dialect of the connection it runs on (required when it may run on
 * more than one kind: PostgreSQL when it may run there, else refused).
 */
export function renderRunbook(runbook: ParsedRunbook, values: Record<string, string>, dialect?: SqlDialect): string {
  const compiledRunbook = compiled.get(runbook);
  if (!compiledRunbook) throw new InternalError('renderRunbook needs a runbook returned by parseRunbook');
  const occurrences = occurrencesFor(runbook, compiledRunbook, dialect);
  let index = 0;
  return compiledRunbook.segments
    .map((segment) => {
      if (segment.kind === 'text') return segment.text;
      const { occurrence, context } = occurrences[index++] as Compiled['occurrences'][string][number];
      const name = occurrence.placeholder.name;
      const spec = compiledRunbook.specs.get(name) as ParameterSpec;
      const value = transform(name, values[name] ?? '', occurrence.helpers);
      if (value.includes('\u0000')) throw new RenderError(name, 'must not contain NUL characters');
      return escapeFor(context, spec, occurrence.helpers, value);
    })
    .join('');
}

/** JSON Schema for the tool's arguments, one property per parameter. */
export function inputSchema(runbook: Pick<ParsedRunbook, 'parameters'>): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const p of runbook.parameters) {
    const schema: Record<string, unknown> = {
      type: p.type === 'number' ? ['number', 'string'] : p.type === 'boolean' ? ['boolean', 'string'] : 'string',
    };
    const description = [p.description, p.placeholder ? `e.g. ${p.placeholder}` : undefined].filter(Boolean).join(' — ');
    if (description) schema['description'] = description;
    if (p.options) schema['enum'] = p.options;
    if (p.pattern) schema['pattern'] = `^(?:${p.pattern})$`;
    if (p.minLength !== undefined) schema['minLength'] = p.minLength;
    if (p.maxLength !== undefined) schema['maxLength'] = p.maxLength;
    if (p.default !== undefined) schema['default'] = p.default;
    const format = { email: 'email', url: 'uri', date: 'date', time: 'time' }[p.type as string];
    if (format) schema['format'] = format;
    if (p.type === 'password') schema['writeOnly'] = true;
    if (p.type === 'number' || p.type === 'boolean') {
      delete schema['pattern'];
      delete schema['minLength'];
      delete schema['maxLength'];
    }
    properties[p.name] = schema;
    if (p.required && p.default === undefined) required.push(p.name);
  }
  return { type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false };
}

export const REDACTED = '[REDACTED]';

/** Parameters as they may be written to the audit log and tickets: passwords redacted. */
export function redactParams(runbook: Pick<ParsedRunbook, 'parameters'>, values: Record<string, string>): Record<string, string> {
  const secret = new Set(runbook.parameters.filter((p) => p.type === 'password').map((p) => p.name));
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, secret.has(k) ? REDACTED : v]));
}

/** `asenv` parameters as environment variables for shell-like executors. */
export function envFor(runbook: Pick<ParsedRunbook, 'parameters'>, values: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of runbook.parameters) if (p.asEnv && values[p.name] !== undefined) env[p.asEnv] = values[p.name] as string;
  return env;
}
