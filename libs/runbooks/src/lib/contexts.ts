/**
 * Lexers that find the lexical context each placeholder stands in. The template is scanned
 * with every placeholder replaced by one marker character, so the contexts are those of
 * the reviewed text itself, never of any value.
 */
import type { MysqlQuoting, RunbookLanguage } from '@rungate/contracts';

export const MARKER = '\uE000';

export type SqlContext = 'bare' | 'single' | 'estring' | 'ident';
export type ShellContext = 'bare' | 'single' | 'double';
export type YamlContext = 'scalar' | 'double' | 'single';
/** MySQL's contexts (mysql.ts); `ansi-ident` is `"…"` when ANSI_QUOTES makes it an identifier. */
export type MysqlContext = 'bare' | 'single' | 'double' | 'backtick' | 'ansi-ident';
export type Context =
  | { language: 'sql'; context: SqlContext }
  | { language: 'mysql'; context: MysqlContext; quoting: MysqlQuoting }
  | { language: 'shell'; context: ShellContext }
  | { language: 'kubernetes'; context: YamlContext };

/** Either the context of each marker, in order, or why one has no safe escaping. */
export type ContextResult = { ok: true; context: Context } | { ok: false; problem: string; fix: string };

export interface LexResult {
  markers: ContextResult[];
  /** Offsets of constructs left open at the end of the text. */
  unterminated: { offset: number; what: string }[];
}

const identChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c) && c !== MARKER;

function precededByBackslash(text: string, i: number): boolean {
  let count = 0;
  for (let j = i - 1; j >= 0 && text[j] === '\\'; j--) count++;
  return count % 2 === 1;
}

export function lexSql(text: string): LexResult {
  const markers: ContextResult[] = [];
  const unterminated: LexResult['unterminated'] = [];
  type State = { kind: 'normal' } | { kind: 'single' | 'estring' | 'ident' | 'line' ; start: number } | { kind: 'block'; start: number; depth: number } | { kind: 'dollar'; start: number; tag: string };
  let state: State = { kind: 'normal' };
  const sql = (context: SqlContext): ContextResult => ({ ok: true, context: { language: 'sql', context } });
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    const next = text[i + 1];
    if (c === MARKER) {
      if (text[i - 1] === '$') markers.push({ ok: false, problem: 'a placeholder right after "$"', fix: 'separate it from the "$"' });
      else if (state.kind === 'normal') markers.push(sql('bare'));
      else if (state.kind === 'single') markers.push(sql('single'));
      else if (state.kind === 'ident') markers.push(sql('ident'));
      else if (state.kind === 'estring') {
        markers.push(
          precededByBackslash(text, i)
            ? { ok: false, problem: 'a placeholder right after a backslash in an E\'…\' string', fix: 'remove the backslash before it' }
            : sql('estring'),
        );
      } else if (state.kind === 'line' || state.kind === 'block') {
        markers.push({ ok: false, problem: 'a placeholder inside a SQL comment', fix: 'move it out of the comment' });
      } else {
        markers.push({ ok: false, problem: 'a placeholder inside a dollar-quoted string', fix: "use a standard '…' string instead" });
      }
      continue;
    }
    switch (state.kind) {
      case 'normal':
        if (c === '-' && next === '-') state = { kind: 'line', start: i };
        else if (c === '/' && next === '*') {
          state = { kind: 'block', start: i, depth: 1 };
          i++;
        } else if (c === "'") {
          const isE = (text[i - 1] === 'E' || text[i - 1] === 'e') && !identChar(text[i - 2]);
          state = { kind: isE ? 'estring' : 'single', start: i };
        } else if (c === '"') state = { kind: 'ident', start: i };
        else if (c === '$' && !identChar(text[i - 1])) {
          const match = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(text.slice(i));
          if (match && !match[0].includes(MARKER)) {
            state = { kind: 'dollar', start: i, tag: match[0] };
            i += match[0].length - 1;
          }
        }
        break;
      case 'line':
        if (c === '\n') state = { kind: 'normal' };
        break;
      case 'block':
        if (c === '/' && next === '*') {
          state.depth++;
          i++;
        } else if (c === '*' && next === '/') {
          state.depth--;
          i++;
          if (state.depth === 0) state = { kind: 'normal' };
        }
        break;
      case 'single':
      case 'ident': {
        const quote = state.kind === 'single' ? "'" : '"';
        if (c === quote) {
          if (next === quote) i++;
          else state = { kind: 'normal' };
        }
        break;
      }
      case 'estring':
        if (c === '\\' && text[i + 1] !== MARKER) i++;
        else if (c === "'") {
          if (next === "'") i++;
          else state = { kind: 'normal' };
        }
        break;
      case 'dollar':
        if (text.startsWith(state.tag, i)) {
          i += state.tag.length - 1;
          state = { kind: 'normal' };
        }
        break;
    }
  }
  if (state.kind !== 'normal' && state.kind !== 'line') {
    const what = { single: "a '…' string", estring: "an E'…' string", ident: 'a "…" identifier', block: 'a /* */ comment', dollar: 'a dollar-quoted string' }[state.kind];
    unterminated.push({ offset: state.start, what });
  }
  return { markers, unterminated };
}

const NESTED_FIX =
  'pass the value as a whole shell word and let the inner language quote it: jq -n --arg v {{ .x }} \'{"key": $v}\' for JSON, psql -v v={{ .x }} with :\'v\' for SQL, or asenv "NAME" and "$NAME"';

/**
 * A shell string is escaped for the shell only. Text inside it that is itself quoted — a JSON
 * document, or SQL with '…' in a "…" argument — is a second language the value would reach
 * unescaped for it ("…" inside '…', '…' inside "…", or any placeholder in a '{…}' or '[…]'
 * JSON argument): refused, with the way to hand the value over as one word instead.
 */
function nestedInShellString(text: string, frame: { kind: string; start: number }, i: number): ContextResult | undefined {
  const before = text.slice(frame.start + 1, i);
  const inner = frame.kind === 'single' ? '"' : "'";
  let count = 0;
  for (let k = 0; k < before.length; k++) {
    if (frame.kind === 'double' && before[k] === '\\') k++;
    else if (before[k] === inner) count++;
  }
  const outer = frame.kind === 'single' ? "'…'" : '"…"';
  if (count % 2 === 1) {
    return { ok: false, problem: `a placeholder inside ${inner}…${inner} within a ${outer} shell string (another language's string inside a shell argument; the value would be escaped for the shell only)`, fix: NESTED_FIX };
  }
  if (/^\s*[{[]/.test(before)) {
    return { ok: false, problem: `a placeholder inside a JSON document in a ${outer} shell string (the value would be escaped for the shell only, not for JSON)`, fix: NESTED_FIX };
  }
  return undefined;
}

export function lexShell(text: string): LexResult {
  const markers: ContextResult[] = [];
  const unterminated: LexResult['unterminated'] = [];
  type Frame = { kind: 'normal' | 'cmdsub' | 'double' | 'single' | 'backtick'; start: number; depth: number };
  const stack: Frame[] = [{ kind: 'normal', start: 0, depth: 0 }];
  const pending: { tag: string; strip: boolean }[] = [];
  const shell = (context: ShellContext): ContextResult => ({ ok: true, context: { language: 'shell', context } });
  let comment = false;
  let heredoc: { tag: string; strip: boolean; start: number } | undefined;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (heredoc) {
      // Inside a here-document body: read whole lines until the delimiter.
      const end = text.indexOf('\n', i);
      const line = text.slice(i, end < 0 ? text.length : end);
      if (line.includes(MARKER)) {
        for (let k = 0; k < line.split(MARKER).length - 1; k++) {
          markers.push({ ok: false, problem: 'a placeholder inside a here-document', fix: 'pass the value with asenv and use "$NAME", or use printf' });
        }
      }
      if ((heredoc.strip ? line.replace(/^\t+/, '') : line) === heredoc.tag) {
        heredoc = pending.length ? { ...(pending.shift() as { tag: string; strip: boolean }), start: i } : undefined;
      }
      i = end < 0 ? text.length : end;
      lineStart = i + 1;
      continue;
    }
    const frame = stack[stack.length - 1] as Frame;
    if (c === MARKER) {
      if (comment) markers.push({ ok: false, problem: 'a placeholder inside a shell comment', fix: 'move it out of the comment' });
      else if (frame.kind === 'backtick') markers.push({ ok: false, problem: 'a placeholder inside backticks', fix: 'use $(…) instead of backticks' });
      else if (text[i - 1] === '$') markers.push({ ok: false, problem: 'a placeholder right after "$"', fix: 'separate it from the "$"' });
      else if (frame.kind !== 'single' && precededByBackslash(text, i)) {
        markers.push({ ok: false, problem: 'a placeholder right after a backslash', fix: 'remove the backslash before it' });
      } else if (frame.kind === 'single' || frame.kind === 'double') {
        const nested = nestedInShellString(text, frame, i);
        markers.push(nested ?? shell(frame.kind));
      } else markers.push(shell('bare'));
      continue;
    }
    if (comment) {
      if (c === '\n') {
        comment = false;
        lineStart = i + 1;
        if (pending.length) heredoc = { ...(pending.shift() as { tag: string; strip: boolean }), start: i + 1 };
      }
      continue;
    }
    switch (frame.kind) {
      case 'single':
        if (c === "'") stack.pop();
        break;
      case 'double':
        if (c === '\\' && text[i + 1] !== MARKER) i++;
        else if (c === '"') stack.pop();
        else if (c === '`') stack.push({ kind: 'backtick', start: i, depth: 0 });
        else if (c === '$' && text[i + 1] === '(') {
          stack.push({ kind: 'cmdsub', start: i, depth: 1 });
          i++;
        }
        break;
      case 'backtick':
        if (c === '\\' && text[i + 1] !== MARKER) i++;
        else if (c === '`') stack.pop();
        break;
      case 'normal':
      case 'cmdsub':
        if (c === '\\' && text[i + 1] !== MARKER) i++;
        else if (c === "'") stack.push({ kind: 'single', start: i, depth: 0 });
        else if (c === '"') stack.push({ kind: 'double', start: i, depth: 0 });
        else if (c === '`') stack.push({ kind: 'backtick', start: i, depth: 0 });
        else if (c === '#' && (i === lineStart || /[\s;&|()]/.test(text[i - 1] ?? ' '))) comment = true;
        else if (c === '$' && text[i + 1] === '(') {
          stack.push({ kind: 'cmdsub', start: i, depth: 1 });
          i++;
        } else if (frame.kind === 'cmdsub' && c === '(') frame.depth++;
        else if (frame.kind === 'cmdsub' && c === ')') {
          frame.depth--;
          if (frame.depth === 0) stack.pop();
        } else if (c === '<' && text[i + 1] === '<' && text[i + 2] !== '<') {
          const match = /^<<(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\2/.exec(text.slice(i));
          if (match) {
            pending.push({ tag: match[3] as string, strip: match[1] === '-' });
            i += match[0].length - 1;
          }
        } else if (c === '\n') {
          lineStart = i + 1;
          if (pending.length) heredoc = { ...(pending.shift() as { tag: string; strip: boolean }), start: i + 1 };
        }
        break;
    }
  }
  for (const frame of stack.slice(1)) {
    const what = { single: "a '…' string", double: 'a "…" string', backtick: 'a `…` command', cmdsub: 'a $(…) command', normal: '' }[frame.kind];
    unterminated.push({ offset: frame.start, what });
  }
  if (heredoc) unterminated.push({ offset: heredoc.start, what: `a here-document (no line "${heredoc.tag}")` });
  return { markers, unterminated };
}

export function lexYaml(text: string): LexResult {
  const markers: ContextResult[] = [];
  const unterminated: LexResult['unterminated'] = [];
  const yaml = (context: YamlContext): ContextResult => ({ ok: true, context: { language: 'kubernetes', context } });
  let quote: { kind: '"' | "'"; start: number } | undefined;
  let block: { indent: number } | undefined;
  let offset = 0;
  for (const line of text.split('\n')) {
    const indent = /^ */.exec(line)?.[0].length ?? 0;
    if (block && !quote) {
      if (line.trim() === '' || indent > block.indent) {
        for (let k = 0; k < line.split(MARKER).length - 1; k++) {
          markers.push({ ok: false, problem: 'a placeholder inside a YAML block scalar', fix: 'use a double-quoted scalar: key: "{{ .x }}"' });
        }
        offset += line.length + 1;
        continue;
      }
      block = undefined;
    }
    let comment = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i] as string;
      if (c === MARKER) {
        if (comment) markers.push({ ok: false, problem: 'a placeholder inside a YAML comment', fix: 'move it out of the comment' });
        else if (quote?.kind === '"') {
          markers.push(precededByBackslash(line, i) ? { ok: false, problem: 'a placeholder right after a backslash', fix: 'remove the backslash' } : yaml('double'));
        } else if (quote?.kind === "'") markers.push(yaml('single'));
        else {
          const before = line.slice(0, i);
          const after = line.slice(i + 1);
          const valuePosition = /^\s*(-\s+)*([^\s#'"{}[\],&*!|>%@`][^#]*?:\s+)?$/.test(before) && /(^|\S)/.test(before.trim() || 'x');
          const wholeScalar = /^\s*(#.*)?$/.test(after) && before.trim() !== '' && valuePosition;
          markers.push(
            wholeScalar
              ? yaml('scalar')
              : {
                  ok: false,
                  problem: 'a placeholder inside a plain YAML scalar or key',
                  fix: 'make it the whole value, or double-quote the scalar: key: "prefix-{{ .x }}"',
                },
          );
        }
        continue;
      }
      if (comment) continue;
      if (quote) {
        if (quote.kind === '"' && c === '\\' && line[i + 1] !== MARKER) i++;
        else if (c === quote.kind) {
          if (quote.kind === "'" && line[i + 1] === "'") i++;
          else quote = undefined;
        }
      } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1] as string))) comment = true;
      else if ((c === '"' || c === "'") && (i === 0 || /[\s:\-[{,]/.test(line[i - 1] as string))) quote = { kind: c, start: offset + i };
    }
    if (!quote) {
      const trimmed = line.replace(/\s*(#.*)?$/, '');
      if (/[:-]\s+[|>][-+0-9]*$/.test(trimmed) || /^\s*[|>][-+0-9]*$/.test(trimmed)) block = { indent };
    }
    offset += line.length + 1;
  }
  if (quote) unterminated.push({ offset: quote.start, what: `a ${quote.kind}…${quote.kind} scalar` });
  return { markers, unterminated };
}

export function lexFor(language: RunbookLanguage, text: string): LexResult {
  return language === 'sql' ? lexSql(text) : language === 'shell' ? lexShell(text) : lexYaml(text);
}
