/**
 * MySQL's lexical rules for runbook bodies (ADR 16): which context each placeholder stands
 * in, and how a value is escaped there. How MySQL reads quoted text depends on two sql_mode
 * flags, so both the lexer and the escaping take them: the executor pins the session to the
 * flags the connection is configured with, and policy renders for the same flags.
 *
 * | MySQL text                  | context    | a value there                                        |
 * |-----------------------------|------------|------------------------------------------------------|
 * | `'…'`                       | `single`   | `'` doubled; `\` doubled unless NO_BACKSLASH_ESCAPES   |
 * | `"…"` (no ANSI_QUOTES)      | `double`   | a string: `"` doubled; `\` doubled unless NO_BACKSLASH_ESCAPES |
 * | `"…"` with ANSI_QUOTES      | `ansi-ident` | an identifier: `"` doubled                           |
 * | `` `…` ``                   | `backtick` | an identifier: `` ` `` doubled                         |
 * | bare                        | `bare`     | number, boolean, identifier (backticks) or options only |
 * | `#`, `-- `, `/* … *\/`      | refused    | comments                                             |
 * | `/*! … *\/`, `/*M! … *\/`   | refused    | executable comments: run only by some servers         |
 * | `X'…'`, `B'…'`              | refused    | hex and bit literals                                  |
 * | `_latin1'…'` (introducers)  | refused    | but `_utf8mb4`, `_utf8mb3`, `_utf8` and `_binary`      |
 *
 * Quotes are doubled rather than backslash-escaped so that, should a session ever run with
 * backslash escapes the executor did not pin, a value still cannot end its string.
 */
import type { MysqlQuoting } from '@rungate/contracts';
import { MARKER, type ContextResult, type LexResult, type MysqlContext } from './contexts';

/** Every combination of the two flags: lint checks a MySQL runbook under each. */
export const MYSQL_QUOTINGS: readonly MysqlQuoting[] = [
  { noBackslashEscapes: false, ansiQuotes: false },
  { noBackslashEscapes: true, ansiQuotes: false },
  { noBackslashEscapes: false, ansiQuotes: true },
  { noBackslashEscapes: true, ansiQuotes: true },
];

/** `MySQL`, `MySQL with NO_BACKSLASH_ESCAPES`, `MySQL with ANSI_QUOTES,NO_BACKSLASH_ESCAPES`. */
export function mysqlLabel(quoting: MysqlQuoting): string {
  const modes = [quoting.ansiQuotes ? 'ANSI_QUOTES' : '', quoting.noBackslashEscapes ? 'NO_BACKSLASH_ESCAPES' : ''].filter(Boolean);
  return modes.length ? `MySQL with ${modes.join(',')}` : 'MySQL';
}

/** Introducers that leave a UTF-8 value's bytes meaning what they meant (the session is utf8mb4). */
const SAFE_INTRODUCERS = new Set(['_utf8mb4', '_utf8mb3', '_utf8', '_binary']);

const identChar = (c: string | undefined) => c !== undefined && c !== MARKER && /[A-Za-z0-9_$\u0080-\uffff]/.test(c);

/** MySQL reads `--` as a comment only before whitespace or a control character (or the end). */
function startsDashComment(text: string, i: number): boolean {
  if (text[i] !== '-' || text[i + 1] !== '-') return false;
  const after = text.charCodeAt(i + 2);
  return Number.isNaN(after) || after <= 0x20;
}

type State =
  | { kind: 'normal' }
  | { kind: 'single' | 'double'; start: number; introducer?: string }
  | { kind: 'backtick' | 'ansi-ident' | 'literal' | 'line' | 'block'; start: number };

export function lexMysql(text: string, quoting: MysqlQuoting): LexResult {
  const markers: ContextResult[] = [];
  const unterminated: LexResult['unterminated'] = [];
  const at = (context: MysqlContext): ContextResult => ({ ok: true, context: { language: 'mysql', context, quoting } });
  const refuse = (problem: string, fix: string): ContextResult => ({ ok: false, problem, fix });
  let state: State = { kind: 'normal' };
  /** Where an executable comment (`/*!…*\/`, `/*M!…*\/`) began: its content is SQL to some servers. */
  let executable: number | undefined;
  const backslashes = !quoting.noBackslashEscapes;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    const next = text[i + 1];
    if (c === MARKER) {
      if (executable !== undefined && state.kind !== 'line' && state.kind !== 'block') {
        markers.push(refuse('a placeholder inside a MySQL executable comment (/*! … */)', 'move it out of the comment: some servers run its content, others ignore it'));
      } else if (state.kind === 'normal') {
        markers.push(
          text[i - 1] === '-' && text[i - 2] === '-'
            ? refuse('a placeholder right after "--"', 'put a space or parentheses between them: "-- " starts a comment in MySQL')
            : at('bare'),
        );
      } else if (state.kind === 'single' || state.kind === 'double') {
        if (backslashes && precededByBackslash(text, i)) markers.push(refuse('a placeholder right after a backslash in a MySQL string', 'remove the backslash before it'));
        else if (state.introducer && !SAFE_INTRODUCERS.has(state.introducer.toLowerCase())) {
          markers.push(refuse(`a placeholder in a string with the character set introducer ${state.introducer}`, 'remove the introducer (values are sent as UTF-8), or convert the string with CONVERT(… USING …)'));
        } else markers.push(at(state.kind));
      } else if (state.kind === 'backtick' || state.kind === 'ansi-ident') markers.push(at(state.kind));
      else if (state.kind === 'literal') markers.push(refuse("a placeholder inside a hex or bit literal (X'…', B'…')", "pass the digits as a string: UNHEX('{{ .x }}')"));
      else markers.push(refuse('a placeholder inside a SQL comment', 'move it out of the comment'));
      continue;
    }
    switch (state.kind) {
      case 'normal':
        if (c === '#' || startsDashComment(text, i)) state = { kind: 'line', start: i };
        else if (c === '/' && next === '*') {
          const bang = text[i + 2] === '!' ? 3 : (text[i + 2] === 'M' || text[i + 2] === 'm') && text[i + 3] === '!' ? 4 : 0;
          if (bang > 0 && executable === undefined) {
            executable = i;
            i += bang - 1;
          } else {
            state = { kind: 'block', start: i };
            i++;
          }
        } else if (c === '*' && next === '/' && executable !== undefined) {
          executable = undefined;
          i++;
        } else if (c === "'") {
          const literal = /[xXbB]/.test(text[i - 1] ?? '') && !identChar(text[i - 2]);
          state = literal ? { kind: 'literal', start: i } : { kind: 'single', start: i, introducer: introducerBefore(text, i) };
        } else if (c === '"') state = quoting.ansiQuotes ? { kind: 'ansi-ident', start: i } : { kind: 'double', start: i, introducer: introducerBefore(text, i) };
        else if (c === '`') state = { kind: 'backtick', start: i };
        break;
      case 'line':
        if (c === '\n') state = { kind: 'normal' };
        break;
      case 'block':
        // MySQL block comments do not nest: the first */ ends them.
        if (c === '*' && next === '/') {
          state = { kind: 'normal' };
          i++;
        }
        break;
      case 'single':
      case 'double': {
        const quote = state.kind === 'single' ? "'" : '"';
        if (backslashes && c === '\\' && next !== MARKER) i++;
        else if (c === quote) {
          if (next === quote) i++;
          else state = { kind: 'normal' };
        }
        break;
      }
      case 'backtick':
      case 'ansi-ident': {
        const quote = state.kind === 'backtick' ? '`' : '"';
        if (c === quote) {
          if (next === quote) i++;
          else state = { kind: 'normal' };
        }
        break;
      }
      case 'literal':
        if (c === "'") state = { kind: 'normal' };
        break;
    }
  }
  if (state.kind !== 'normal' && state.kind !== 'line') {
    const what = {
      single: "a '…' string",
      double: 'a "…" string',
      'ansi-ident': 'a "…" identifier',
      backtick: 'a `…` identifier',
      literal: "a hex or bit literal",
      block: 'a /* */ comment',
    }[state.kind];
    unterminated.push({ offset: state.start, what });
  } else if (executable !== undefined) {
    unterminated.push({ offset: executable, what: 'an executable comment /*! … */' });
  }
  return { markers, unterminated };
}

function precededByBackslash(text: string, i: number): boolean {
  let count = 0;
  for (let j = i - 1; j >= 0 && text[j] === '\\'; j--) count++;
  return count % 2 === 1;
}

/** `_latin1` in `_latin1'…'` or `_latin1 '…'`: the character set a string's bytes are read in. */
function introducerBefore(text: string, quote: number): string | undefined {
  const match = /(?:^|[^A-Za-z0-9_$\u0080-\uffff])(_[A-Za-z0-9]+)\s*$/.exec(text.slice(Math.max(0, quote - 80), quote));
  return match?.[1];
}

/** Content of a MySQL string in `quote`, as a session with these flags reads it back. */
export function mysqlString(value: string, quote: "'" | '"', quoting: MysqlQuoting): string {
  const escaped = quoting.noBackslashEscapes ? value : value.replace(/\\/g, '\\\\');
  return escaped.split(quote).join(quote + quote);
}

/** Content of a quoted identifier: backticks, or `"` with ANSI_QUOTES. Backslashes are plain there. */
export function mysqlIdent(value: string, quote: '`' | '"'): string {
  return value.split(quote).join(quote + quote);
}

export interface MysqlRendering {
  context: MysqlContext;
  quoting: MysqlQuoting;
  /** The placeholder's quoting helper, if it has one: squote, dquote or quotechar. */
  quote?: "'" | '"';
  type: string;
}

/** A value in its MySQL context; bare values only for the types that are safe bare. */
export function escapeMysql(value: string, rendering: MysqlRendering): string {
  const { context, quoting, quote, type } = rendering;
  switch (context) {
    case 'single':
      return mysqlString(value, "'", quoting);
    case 'double':
      return mysqlString(value, '"', quoting);
    case 'ansi-ident':
      return mysqlIdent(value, '"');
    case 'backtick':
      return mysqlIdent(value, '`');
    case 'bare':
      break;
  }
  if (quote === "'") return `'${mysqlString(value, "'", quoting)}'`;
  if (quote === '"') return quoting.ansiQuotes ? `"${mysqlIdent(value, '"')}"` : `"${mysqlString(value, '"', quoting)}"`;
  if (type === 'number') return value.startsWith('-') ? `(${value})` : value;
  if (type === 'boolean') return value === 'true' ? 'TRUE' : 'FALSE';
  if (type === 'identifier') return `\`${mysqlIdent(value, '`')}\``;
  return `'${mysqlString(value, "'", quoting)}'`;
}
