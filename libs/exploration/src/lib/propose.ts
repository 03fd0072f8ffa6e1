import { isDeepStrictEqual } from 'node:util';
import type { ParameterType } from '@rungate/contracts';
import { checkExploreSql, parserNode, parserNodes, type SqlParser, type SqlToken } from '@rungate/guardrails';
import { NUMBER, POSTGRES, parseRunbook, renderRunbook, validateArguments } from '@rungate/runbooks';

/** One constant of the explored statement, lifted into a runbook parameter. */
export interface LiftedParameter {
  name: string;
  type: Extract<ParameterType, 'number' | 'boolean' | 'date' | 'time' | 'email' | 'url' | 'text'>;
  /** The value the exploration ran with (what the self-check renders the runbook with). */
  value: string;
}

export interface Proposal {
  /** The runbook file's path in the repository (`….runbook.sql`). */
  path: string;
  source: string;
  parameters: LiftedParameter[];
}

export interface ProposalRequest {
  statement: string;
  /** Where the file goes; `.runbook` is added before `.sql` when the name lacks it. */
  path: string;
  description: string;
  /** Provenance for the header comment: which run, whose, where. */
  origin: { runId: string; user: string; agent?: string; connection?: string; time?: string };
}

export class ProposalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProposalError';
  }
}

/** Operators whose operands are the values a query filters by. */
const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=', '~~', '!~~', '~~*', '!~~*', '~', '~*', '!~', '!~*']);
const FILTER_KINDS = new Set(['AEXPR_LIKE', 'AEXPR_ILIKE', 'AEXPR_SIMILAR', 'AEXPR_IN', 'AEXPR_BETWEEN', 'AEXPR_NOT_BETWEEN', 'AEXPR_BETWEEN_SYM', 'AEXPR_NOT_BETWEEN_SYM', 'AEXPR_DISTINCT', 'AEXPR_NOT_DISTINCT']);
/** Arithmetic a filtered value may sit in (`created < now() - interval '2 hours'`). */
const ARITHMETIC = new Set(['+', '-', '*', '/', '%', '||']);

type Fields = Record<string, unknown>;

function fields(value: unknown): Fields | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
}

function operatorOf(expr: Fields): string | undefined {
  const names = Array.isArray(expr['name']) ? expr['name'] : [];
  const last = parserNode(names[names.length - 1]);
  return typeof last?.[1]['sval'] === 'string' ? last[1]['sval'] : undefined;
}

function columnName(node: unknown): string | undefined {
  const column = parserNode(node);
  if (column?.[0] !== 'ColumnRef') return undefined;
  const parts = Array.isArray(column[1]['fields']) ? column[1]['fields'] : [];
  const last = parserNode(parts[parts.length - 1]);
  return typeof last?.[1]['sval'] === 'string' ? last[1]['sval'] : undefined;
}

interface Candidate {
  /** Byte offset of the constant in the statement (the parser's location). */
  location: number;
  name: string;
}

/** The constants in one operand of a filter: itself, or inside casts and arithmetic. */
function operandConstants(node: unknown, name: string, out: Candidate[]): void {
  const node_ = parserNode(node);
  if (!node_) return;
  const [type, value] = node_;
  if (type === 'A_Const') {
    if (value['isnull'] !== true && typeof value['location'] === 'number') out.push({ location: value['location'], name });
  } else if (type === 'TypeCast') {
    operandConstants(value['arg'], name, out);
  } else if (type === 'A_Expr' && value['kind'] === 'AEXPR_OP' && ARITHMETIC.has(operatorOf(value) ?? '')) {
    operandConstants(value['lexpr'], name, out);
    operandConstants(value['rexpr'], name, out);
  } else if (type === 'List') {
    (Array.isArray(value['items']) ? value['items'] : []).forEach((item) => operandConstants(item, name, out));
  }
}

/** Every filtered value and LIMIT/OFFSET of the statement, named after the column it is compared with. */
function candidates(root: unknown): Candidate[] {
  const out: Candidate[] = [];
  for (const [type, inner] of parserNodes(root)) {
    if (type === 'A_Expr' && ((inner['kind'] === 'AEXPR_OP' && COMPARISONS.has(operatorOf(inner) ?? '')) || FILTER_KINDS.has(String(inner['kind'])))) {
      const name = columnName(inner['lexpr']) ?? columnName(inner['rexpr']) ?? 'value';
      const between = String(inner['kind']).includes('BETWEEN');
      const right = parserNode(inner['rexpr']);
      if (between && right?.[0] === 'List') {
        const [low, high] = Array.isArray(right[1]['items']) ? right[1]['items'] : [];
        operandConstants(low, `${name}_from`, out);
        operandConstants(high, `${name}_to`, out);
      } else {
        if (columnName(inner['lexpr']) === undefined) operandConstants(inner['lexpr'], name, out);
        operandConstants(inner['rexpr'], name, out);
      }
    }
    if (type === 'SelectStmt') {
      operandConstants(inner['limitCount'], 'limit', out);
      operandConstants(inner['limitOffset'], 'offset', out);
    }
  }
  return out.sort((a, b) => a.location - b.location);
}

/** A parameter name the template language accepts: lowercase, `_`, not starting with a digit. */
function parameterName(name: string): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 40);
  return /^[a-z]/.test(cleaned) ? cleaned : `p_${cleaned || 'value'}`;
}

const STRING_TYPES: LiftedParameter['type'][] = ['date', 'time', 'email', 'url'];

/** The most specific type the runbook validator itself accepts the value as, else text. */
function stringType(value: string): LiftedParameter['type'] {
  for (const type of STRING_TYPES) {
    if (validateArguments({ parameters: [{ name: 'v', type, required: true }] }, { v: value }).ok) return type;
  }
  return 'text';
}

interface Lifted {
  start: number;
  end: number;
  kind: 'number' | 'string' | 'boolean';
  value: string;
  name: string;
}

/** The constant's exact text span, from the scanner; undefined for forms kept as written (E'…', $$…$$, B'…', continued strings). */
function spanOf(candidate: Candidate, tokens: readonly SqlToken[]): Omit<Lifted, 'name'> | undefined {
  const index = tokens.findIndex((token) => token.start === candidate.location);
  const token = tokens[index];
  if (!token) return undefined;
  const next = tokens[index + 1];
  // A number a runbook's number type would not accept (0x1F, 1_000) is kept as written.
  const number = (text: string) => (NUMBER.test(text) ? text : undefined);
  if ((token.tokenName === 'ICONST' || token.tokenName === 'FCONST') && number(token.text)) return { start: token.start, end: token.end, kind: 'number', value: token.text };
  if (token.text === '-' && next && (next.tokenName === 'ICONST' || next.tokenName === 'FCONST') && number(next.text)) {
    return { start: token.start, end: next.end, kind: 'number', value: `-${next.text}` };
  }
  if (token.tokenName === 'SCONST' && token.text.startsWith("'") && token.text.endsWith("'") && next?.tokenName !== 'SCONST') {
    return { start: token.start, end: token.end, kind: 'string', value: token.text.slice(1, -1).replace(/''/g, "'") };
  }
  const word = token.text.toLowerCase();
  if (word === 'true' || word === 'false') return { start: token.start, end: token.end, kind: 'boolean', value: word };
  return undefined;
}

/** `team/find-stuck-orders.sql` → `team/find-stuck-orders.runbook.sql`; refuses paths outside the repository. */
export function runbookPathFor(path: string): string {
  const clean = path.replace(/^\.\/+/, '');
  if (clean === '' || clean.startsWith('/') || clean.split('/').some((part) => part === '..' || part === '' || part === '.git')) {
    throw new ProposalError(`--path ${path}: give a relative path inside the repository, such as team/find-stuck-orders.sql`);
  }
  if (!/\.sql$/i.test(clean)) throw new ProposalError(`--path ${path}: an explored statement becomes a .sql runbook; end the path with .sql`);
  return /\.runbook\.sql$/i.test(clean) ? clean : clean.replace(/\.sql$/i, '.runbook.sql');
}

/** The parse tree without the positions in it: what the statement means, not where its parts stand. */
function withoutLocations(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutLocations);
  const object = fields(value);
  if (!object) return value;
  return Object.fromEntries(Object.entries(object).filter(([key]) => !/location|^rexpr_list_(start|end)$/.test(key)).map(([key, child]) => [key, withoutLocations(child)]));
}

function commentLine(text: string): string {
  return `-- ${text.replace(/[\r\n]+/g, ' ')}`;
}

/**
 * Turns an explored statement into a runbook (ADR 19): every value it filters by (the operands
 * of comparisons, LIKE, IN, BETWEEN, and LIMIT/OFFSET) becomes a typed parameter — numbers and
 * booleans bare, strings inside their own quotes, typed by the runbook validator's rules (date,
 * time, email, url, else text) — so the linter's context rules accept every placeholder. Other
 * constants stay as written, for the reviewer to judge. The result is checked before it is
 * returned: it must parse as a runbook, and rendered with the explored values it must be the
 * same statement as PostgreSQL's parser reads it.
 */
export function proposeRunbook(parser: SqlParser, request: ProposalRequest): Proposal {
  const path = runbookPathFor(request.path);
  const statement = request.statement.trim();
  const parsed = parser.parse(statement);
  const check = checkExploreSql(parsed);
  if (!check.ok) throw new ProposalError(`run ${request.origin.runId} is not a statement an exploration could run (${check.reason}), so it makes no runbook`);
  if (!parsed.ok) throw new ProposalError('the statement does not parse');
  const tokens = parser.scan(statement);
  if (!tokens) throw new ProposalError('the statement does not lex');
  const bytes = Buffer.from(statement, 'utf8');

  const lifted: Lifted[] = [];
  const used = new Map<string, { kind: Lifted['kind']; value: string }>();
  for (const candidate of candidates(parsed.statements[0]?.node)) {
    const span = spanOf(candidate, tokens);
    if (!span || lifted.some((l) => l.start === span.start)) continue;
    let name = parameterName(candidate.name);
    for (let n = 2; used.has(name) && !isDeepStrictEqual(used.get(name), { kind: span.kind, value: span.value }); n++) name = `${parameterName(candidate.name)}_${n}`;
    used.set(name, { kind: span.kind, value: span.value });
    lifted.push({ ...span, name });
  }

  const parameters = new Map<string, LiftedParameter>();
  let body = '';
  let at = 0;
  const keep = (end?: number) => {
    const text = bytes.subarray(at, end).toString('utf8');
    if (/\{\{|\}\}/.test(text)) throw new ProposalError('the statement contains {{ or }} outside the values it filters by, which a runbook would read as a placeholder; write it by hand from rungate sessions show');
    body += text;
  };
  for (const literal of lifted) {
    keep(literal.start);
    const type: LiftedParameter['type'] = literal.kind === 'string' ? stringType(literal.value) : literal.kind;
    const first = !parameters.has(literal.name);
    parameters.set(literal.name, { name: literal.name, type, value: literal.value });
    // Values that cannot hold personal data are shown as examples; text, e-mail and URL values stay out of Git.
    const example = first && ['number', 'boolean', 'date', 'time'].includes(type) ? ` | placeholder "${literal.value}"` : '';
    const declaration = first ? ` | type "${type}" | required "${literal.name} is required"${example}` : '';
    const placeholder = `{{ .${literal.name}${declaration} }}`;
    body += literal.kind === 'string' ? `'${placeholder}'` : placeholder;
    at = literal.end;
  }
  keep();
  if (!body.trimEnd().endsWith(';')) body = `${body.trimEnd()};`;

  const { runId, user, agent, connection, time } = request.origin;
  const source = [
    commentLine(`@description ${request.description}`),
    '-- @readonly',
    commentLine(`Proposed by rungate runbooks propose from exploration run ${runId} (${user}${agent ? ` via ${agent}` : ''}${connection ? ` on ${connection}` : ''}${time ? `, ${time}` : ''}).`),
    '-- The values it filtered by are parameters now: review their names and types, and what stays constant.',
    body,
    '',
  ].join('\n');

  const result = parseRunbook(path, source);
  if (!result.ok) {
    const first = result.findings[0];
    throw new ProposalError(`the proposed runbook does not pass lint (${first ? `${first.line}:${first.column}: ${first.message}` : 'unknown finding'}); write it by hand from rungate sessions show`);
  }
  const values = Object.fromEntries([...parameters.values()].map((p) => [p.name, p.value]));
  const rendered = parser.parse(renderRunbook(result.runbook, values, POSTGRES));
  if (!rendered.ok || rendered.statements.length !== 1 || !isDeepStrictEqual(withoutLocations(rendered.statements[0]?.node), withoutLocations(parsed.statements[0]?.node))) {
    throw new ProposalError('the proposed runbook, rendered with the explored values, would not be the same statement; write it by hand from rungate sessions show');
  }
  return { path, source, parameters: [...parameters.values()] };
}
