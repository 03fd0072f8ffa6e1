/**
 * The template syntax: Go text/template parameter pipelines as hoop.dev uses them,
 * `{{ .name | fn "arg" | fn 3 }}`. Anything else inside `{{ }}` is refused.
 */

export interface Position {
  line: number;
  column: number;
}

export interface PipelineCall {
  fn: string;
  args: (string | number)[];
}

export interface Placeholder {
  name: string;
  calls: PipelineCall[];
  /** Offset of `{{` in the source. */
  start: number;
  /** Offset just after `}}`. */
  end: number;
  position: Position;
}

export interface TemplateError {
  message: string;
  position: Position;
}

export type Segment = { kind: 'text'; text: string } | { kind: 'placeholder'; placeholder: Placeholder };

export function positionAt(source: string, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

type Token = { kind: 'field'; name: string } | { kind: 'pipe' } | { kind: 'ident'; name: string } | { kind: 'string'; value: string } | { kind: 'number'; value: number };

const GO_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v' };

function tokenize(body: string): Token[] | string {
  const tokens: Token[] = [];
  let i = 0;
  while (i < body.length) {
    const c = body[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '|') {
      tokens.push({ kind: 'pipe' });
      i++;
    } else if (c === '.') {
      const match = /^\.([A-Za-z_][A-Za-z0-9_]*)/.exec(body.slice(i));
      if (!match) return 'expected a parameter name after "."';
      tokens.push({ kind: 'field', name: match[1] as string });
      i += match[0].length;
    } else if (c === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= body.length) return 'unterminated string';
        const ch = body[i] as string;
        if (ch === '"') break;
        if (ch === '\\') {
          const next = body[i + 1] ?? '';
          if (!(next in GO_ESCAPES)) return `unsupported escape \\${next} in a string`;
          value += GO_ESCAPES[next];
          i += 2;
        } else {
          value += ch;
          i++;
        }
      }
      tokens.push({ kind: 'string', value });
      i++;
    } else if (c === '`') {
      const close = body.indexOf('`', i + 1);
      if (close < 0) return 'unterminated raw string';
      tokens.push({ kind: 'string', value: body.slice(i + 1, close) });
      i = close + 1;
    } else if (/[0-9-]/.test(c)) {
      const match = /^-?\d+/.exec(body.slice(i));
      if (!match) return `unexpected "${c}"`;
      tokens.push({ kind: 'number', value: Number(match[0]) });
      i += match[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(body.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'ident', name: match[0] });
      i += match[0].length;
    } else {
      return `unexpected "${c}"`;
    }
  }
  return tokens;
}

function parsePipeline(body: string): { name: string; calls: PipelineCall[] } | string {
  const tokens = tokenize(body);
  if (typeof tokens === 'string') return tokens;
  const [first, ...rest] = tokens;
  if (!first || first.kind !== 'field') {
    return 'only parameter pipelines are allowed: {{ .name | fn "arg" }} (no actions, variables or functions first)';
  }
  const calls: PipelineCall[] = [];
  let i = 0;
  while (i < rest.length) {
    const pipe = rest[i];
    if (!pipe || pipe.kind !== 'pipe') return 'expected "|" between pipeline functions';
    const fn = rest[i + 1];
    if (!fn || fn.kind !== 'ident') return 'expected a function name after "|"';
    const args: (string | number)[] = [];
    i += 2;
    while (i < rest.length && rest[i]?.kind !== 'pipe') {
      const arg = rest[i] as Token;
      if (arg.kind === 'string' || arg.kind === 'number') args.push(arg.value);
      else return `function ${fn.name}: arguments must be strings or numbers`;
      i++;
    }
    calls.push({ fn: fn.name, args });
  }
  return { name: first.name, calls };
}

/** Splits a source into text and placeholders; errors carry their line and column. */
export function parseTemplate(source: string): { segments: Segment[]; errors: TemplateError[] } {
  const segments: Segment[] = [];
  const errors: TemplateError[] = [];
  let cursor = 0;
  for (;;) {
    const open = source.indexOf('{{', cursor);
    if (open < 0) break;
    const close = source.indexOf('}}', open + 2);
    if (close < 0) {
      errors.push({ message: 'unterminated "{{": close it with "}}"', position: positionAt(source, open) });
      break;
    }
    if (open > cursor) segments.push({ kind: 'text', text: source.slice(cursor, open) });
    let inner = source.slice(open + 2, close);
    inner = inner.replace(/^-\s/, '').replace(/\s-$/, '');
    const parsed = parsePipeline(inner);
    if (typeof parsed === 'string') {
      errors.push({ message: parsed, position: positionAt(source, open) });
    } else {
      segments.push({
        kind: 'placeholder',
        placeholder: { ...parsed, start: open, end: close + 2, position: positionAt(source, open) },
      });
    }
    cursor = close + 2;
  }
  if (cursor < source.length) segments.push({ kind: 'text', text: source.slice(cursor) });
  return { segments, errors };
}
