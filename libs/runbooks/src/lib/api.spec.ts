import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  envFor,
  inputSchema,
  isRunbookPath,
  parseRunbook,
  redactParams,
  renderRunbook,
  toolName,
  validateArguments,
  type ParsedRunbook,
} from './api';
import { formatFinding, lintRepository } from './lint';

function parsed(path: string, source: string): ParsedRunbook {
  const result = parseRunbook(path, source);
  if (!result.ok) throw new Error(result.findings.map(formatFinding).join('\n'));
  return result.runbook;
}

function findings(path: string, source: string): string[] {
  const result = parseRunbook(path, source);
  return result.ok ? [] : result.findings.map((f) => `${f.line}:${f.column} ${f.message}`);
}

function render(path: string, source: string, args: Record<string, unknown>): string {
  const runbook = parsed(path, source);
  const validation = validateArguments(runbook, args);
  if (!validation.ok) throw new Error(JSON.stringify(validation.errors));
  return renderRunbook(runbook, validation.values);
}

describe('runbook files', () => {
  it('are the files whose name contains .runbook.', () => {
    expect(isRunbookPath('postgres/get_user.runbook.sql')).toBe(true);
    expect(isRunbookPath('runbook/readme.md')).toBe(false);
    expect(isRunbookPath('a.runbook.py')).toBe(true);
    expect(findings('a.runbook.py', 'print(1)')[0]).toMatch(/unsupported runbook extension/);
  });

  it('become tools named after the repository and path', () => {
    expect(toolName('demo', 'postgres/get_user.runbook.sql')).toBe('demo.postgres.get_user');
    expect(toolName('ops', 'k8s/restart api.runbook.yaml')).toBe('ops.k8s.restart_api');
  });

  it('refuse files over 1 MiB', () => {
    expect(findings('big.runbook.sql', `SELECT '${'x'.repeat(1024 * 1024)}';`)[0]).toMatch(/larger than/);
  });
});

describe('declarations', () => {
  const source = `-- @description Move a user
-- @timeout 2m
-- @readonly
-- @tags users, email
SELECT '{{ .region | options "eu" "us" | description "Region" | order 2 }}',
       '{{ .email | type "email" | required "email please" | maxlength 64 | order 1 }}',
       '{{ .note | default "none" | minlength 2 | pattern "[a-z ]+" }}',
       '{{ .email }}';`;

  it('merge per parameter, ordered by order then first use', () => {
    const runbook = parsed('a.runbook.sql', source);
    expect(runbook.parameters).toEqual([
      { name: 'email', type: 'email', required: true, requiredMessage: 'email please', maxLength: 64, order: 1 },
      { name: 'region', type: 'select', required: false, options: ['eu', 'us'], description: 'Region', order: 2 },
      { name: 'note', type: 'text', required: false, default: 'none', minLength: 2, pattern: '[a-z ]+' },
    ]);
    expect(runbook.metadata).toMatchObject({ description: 'Move a user', timeoutMs: 120_000, readOnly: true, tags: ['users', 'email'] });
  });

  it('report contradictions, unknown functions and actions with line and column', () => {
    expect(findings('a.runbook.sql', `SELECT '{{ .a | type "number" }}', '{{ .a | type "text" }}'`)).toEqual([
      '1:37 parameter a: contradictory declarations of type: "number" and "text"',
    ]);
    expect(findings('a.runbook.sql', `SELECT '{{ .a | upper }}'`)).toEqual(['1:9 parameter a: unknown function upper']);
    expect(findings('a.runbook.sql', `SELECT 1;\n{{ if .a }}x{{ end }}`)[0]).toMatch(/^2:1 only parameter pipelines are allowed/);
    expect(findings('a.runbook.sql', `SELECT '{{ .a | pattern "(" }}'`)[0]).toMatch(/not a valid RE2 expression/);
    expect(findings('a.runbook.sql', `-- @frobnicate\nSELECT 1`)[0]).toMatch(/^1:4 unknown metadata @frobnicate/);
    expect(findings('a.runbook.sql', `SELECT '{{ .a }`).join('\n')).toMatch(/unterminated "\{\{"/);
  });
});

describe('validation', () => {
  const runbook = parsed(
    'v.runbook.sql',
    `SELECT {{ .n | type "number" }}, {{ .b | type "boolean" }}, '{{ .e | type "email" }}', '{{ .u | type "url" }}',
      '{{ .d | type "date" }}', '{{ .t | type "time" }}', '{{ .tel | type "tel" }}', {{ .id | type "identifier" }},
      {{ .s | options "a" "b" }}, '{{ .p | type "password" | minlength 8 }}', '{{ .r | required }}', '{{ .x | pattern "[0-9]{3}" }}'`,
  );
  const good = { n: '-1.5e3', b: true, e: 'a@b.co', u: 'https://x.example/y?z', d: '2024-02-29', t: '23:59:59', tel: '+1 (555) 010-0000', id: 'users', s: 'a', p: 'correct horse', r: 'x', x: '123' };

  it('accepts values of every type', () => {
    expect(validateArguments(runbook, good)).toMatchObject({ ok: true, values: { n: '-1.5e3', b: 'true' } });
  });

  it.each([
    ['n', '1; DROP TABLE x', 'type'],
    ['n', 'Infinity', 'type'],
    ['b', 'yes', 'type'],
    ['e', 'not-an-email', 'type'],
    ['u', 'javascript:alert(1)', 'type'],
    ['d', '2023-02-29', 'type'],
    ['t', '24:00', 'type'],
    ['tel', 'call me', 'type'],
    ['id', 'users; drop', 'type'],
    ['s', 'c', 'type'],
    ['p', 'short', 'minlength'],
    ['r', '', 'required'],
    ['x', '1234', 'pattern'],
    ['x', 'a\u0000', 'characters'],
    ['r', 'half \ud800 a pair', 'characters'],
    ['r', '\udc00 the other half', 'characters'],
    ['e', 'a@b.co\udfff', 'characters'],
    ['n', { $gt: 1 }, 'type'],
    ['zzz', 'x', 'unknown'],
  ])('refuses %s = %j (%s)', (parameter, value, constraint) => {
    const result = validateArguments(runbook, { ...good, [parameter]: value });
    expect(result).toMatchObject({ ok: false, errors: [expect.objectContaining({ parameter, constraint })] });
  });

  it('accepts well-formed text beyond the BMP (surrogate pairs)', () => {
    expect(validateArguments(runbook, { ...good, r: 'emoji 😀 and 𝄞' })).toMatchObject({ ok: true, values: { r: 'emoji 😀 and 𝄞' } });
  });

  it('says what is wrong with a lone surrogate without repeating it', () => {
    const result = validateArguments(runbook, { ...good, r: 'a\ud800' });
    expect(result).toMatchObject({ ok: false, errors: [{ parameter: 'r', message: expect.stringMatching(/^must be well-formed Unicode text/) }] });
    expect(JSON.stringify(result)).not.toContain('\\ud800');
  });

  it('never repeats a password in an error', () => {
    const result = validateArguments(runbook, { ...good, p: 'hunter2' });
    expect(JSON.stringify(result)).not.toContain('hunter2');
  });

  it('uses the runbook\'s own required message and fills defaults', () => {
    const rb = parsed('d.runbook.sql', `SELECT '{{ .a | required "Give me an a" }}', '{{ .b | default "fallback" }}'`);
    expect(validateArguments(rb, {})).toMatchObject({ ok: false, errors: [{ parameter: 'a', constraint: 'required', message: 'Give me an a' }] });
    expect(validateArguments(rb, { a: 'x' })).toEqual({ ok: true, values: { a: 'x', b: 'fallback' } });
  });
});

describe('SQL contexts', () => {
  it('escapes each string context', () => {
    expect(render('q.runbook.sql', `SELECT '{{ .v }}', E'{{ .v }}', "{{ .v }}"`, { v: `a'b\\c"d` })).toBe(`SELECT 'a''b\\c"d', E'a''b\\\\c"d', "a'b\\c""d"`);
  });

  it('renders typed values bare, and only those', () => {
    const source = `SELECT {{ .n | type "number" }} - {{ .m | type "number" }}, {{ .b | type "boolean" }}, {{ .i | type "identifier" }}, {{ .o | options "x'y" "z" }}`;
    expect(render('q.runbook.sql', source, { n: 1, m: -2, b: 'false', i: 'Users', o: "x'y" })).toBe(`SELECT 1 - (-2), FALSE, "Users", 'x''y'`);
    expect(findings('q.runbook.sql', 'SELECT {{ .free }}')[0]).toMatch(/cannot stand bare in SQL: quote it/);
    expect(render('q.runbook.sql', 'SELECT {{ .v | squote }}, {{ .v | dquote }}', { v: `it's` })).toBe(`SELECT 'it''s', "it's"`);
  });

  it('refuses placeholders in comments, dollar quotes and after a backslash', () => {
    expect(findings('q.runbook.sql', `SELECT 1 /* {{ .v }} */`)[0]).toMatch(/inside a SQL comment/);
    expect(findings('q.runbook.sql', `SELECT $tag$ {{ .v }} $tag$`)[0]).toMatch(/dollar-quoted/);
    expect(findings('q.runbook.sql', `SELECT E'\\{{ .v }}'`)[0]).toMatch(/after a backslash/);
    expect(findings('q.runbook.sql', `SELECT 'unterminated`)[0]).toMatch(/unterminated a '…' string/);
    expect(findings('q.runbook.sql', `SELECT '{{ .v | squote }}'`)[0]).toMatch(/already inside quotes/);
  });
});

describe('optional bare values', () => {
  it('refuses to render an optional number or identifier left empty where it stands bare, instead of leaving a hole in the statement', () => {
    // Rendered as nothing before: `SELECT  - 1` (a different statement), `SELECT "" …` or `replicas: ` (null).
    for (const [path, source] of [
      ['n.runbook.sql', 'SELECT {{ .v | type "number" }} - 1'],
      ['i.runbook.sql', 'SELECT 1 AS {{ .v | type "identifier" }}'],
      ['m.runbook.sql', '-- @connection-types mysql\nSELECT {{ .v | type "number" }} - 1'],
      ['k.runbook.yaml', 'spec:\n  replicas: {{ .v | type "number" }}\n'],
    ] as const) {
      const runbook = parsed(path, source);
      const validation = validateArguments(runbook, {});
      expect(validation.ok).toBe(true);
      const dialect = path.startsWith('m.') ? ({ kind: 'mysql', quoting: { noBackslashEscapes: false, ansiQuotes: false } } as const) : undefined;
      if (validation.ok) expect(() => renderRunbook(runbook, validation.values, dialect)).toThrow(/^v: has no value, and a bare (number|identifier) needs one/);
    }
    // Quoted, or with a default, an empty optional value is fine.
    expect(render('q.runbook.sql', `SELECT '{{ .v | type "number" }}', {{ .w | type "number" | default "3" }}`, {})).toBe(`SELECT '', 3`);
  });
});

describe('shell contexts', () => {
  it('escapes single, double and bare words', () => {
    expect(render('s.runbook.sh', `echo '{{ .v }}' "{{ .v }}" {{ .v }}`, { v: `a'b"c$d\`e\\` })).toBe(
      `echo 'a'\\''b"c$d\`e\\' "a'b\\"c\\$d\\\`e\\\\" 'a'\\''b"c$d\`e\\'`,
    );
  });

  it('treats $(…) as a nested shell', () => {
    expect(render('s.runbook.sh', `x="$(echo {{ .v }})"`, { v: 'a b' })).toBe(`x="$(echo 'a b')"`);
  });

  it('refuses comments, heredocs, backticks and "$"-adjacent placeholders', () => {
    expect(findings('s.runbook.sh', `echo hi # {{ .v }}`)[0]).toMatch(/shell comment/);
    expect(findings('s.runbook.sh', `cat <<-'EOF'\n\t{{ .v }}\n\tEOF\n`)[0]).toMatch(/here-document/);
    expect(findings('s.runbook.sh', 'echo `{{ .v }}`')[0]).toMatch(/backticks/);
    expect(findings('s.runbook.sh', 'echo ${{ .v }}')[0]).toMatch(/after "\$"/);
    expect(findings('s.runbook.sh', 'echo "{{ .v }}')[0]).toMatch(/unterminated a "…" string/);
  });

  it('refuses a placeholder in a language nested inside a shell string, at its line and column, with the fix', () => {
    // Each was accepted before and escaped for the shell only: `", "admin": true, "x": "` became JSON keys, `'; DROP TABLE t; --` SQL.
    const nested = [
      [`curl -d '{"name": "{{ .v }}"}' https://x`, /^1:20 parameter v: a placeholder inside "…" within a '…' shell string .*; pass the value as a whole shell word .*jq -n --arg/],
      [`echo ok\nprintf '%s' '[1, {{ .v }}]'`, /^2:18 parameter v: a placeholder inside a JSON document in a '…' shell string/],
      [`psql -c "SELECT '{{ .v }}'"`, /^1:18 parameter v: a placeholder inside '…' within a "…" shell string .*psql -v v=/],
      [`psql -c "UPDATE t SET a = 'x', b = '{{ .v }}'"`, /^1:37 parameter v: a placeholder inside '…' within a "…" shell string/],
    ] as const;
    for (const [source, expected] of nested) expect(findings('s.runbook.sh', source)[0]).toMatch(expected);
    // Quotes closed before the placeholder, or escaped in "…", leave it in the shell's own context.
    expect(render('s.runbook.sh', `echo '"a" {{ .v }}' "\\"{{ .v }}\\" it's"`, { v: `x"y` })).toBe(`echo '"a" x"y' "\\"x\\"y\\" it's"`);
  });

  it('exports asenv parameters', () => {
    const runbook = parsed('s.runbook.sh', `echo "$TARGET" {{ .t | asenv "TARGET" }}`);
    expect(envFor(runbook, { t: 'db1' })).toEqual({ TARGET: 'db1' });
  });

  it('applies base64 helpers before escaping', () => {
    expect(render('s.runbook.sh', `echo {{ .v | encodeb64 }} {{ .w | decodeb64 }}`, { v: "a'", w: Buffer.from("b'").toString('base64') })).toBe(`echo 'YSc=' 'b'\\'''`);
  });
});

describe('YAML contexts', () => {
  it('quotes whole scalars and escapes inside quoted ones', () => {
    const source = `metadata:\n  name: {{ .n }}\n  labels:\n    x: "pre-{{ .n }}"\n    y: 'pre-{{ .m }}'\n`;
    expect(render('k.runbook.yaml', source, { n: 'a: b\n- c "d"', m: "it's" })).toBe(
      `metadata:\n  name: "a: b\\n- c \\"d\\""\n  labels:\n    x: "pre-a: b\\n- c \\"d\\""\n    y: 'pre-it''s'\n`,
    );
  });

  it('keeps a whole scalar typed number or boolean a YAML number or boolean, and quotes it when the runbook does', () => {
    const source = `spec:\n  replicas: {{ .n | type "number" }}\n  paused: {{ .p | type "boolean" }}\n  note: "{{ .n | type "number" }}"\n`;
    expect(render('k.runbook.yaml', source, { n: '3', p: 'false' })).toBe(`spec:\n  replicas: 3\n  paused: false\n  note: "3"\n`);
    // Validation, not escaping, is what keeps anything else out of the bare position.
    expect(() => render('k.runbook.yaml', source, { n: '3\nkind: Secret', p: 'false' })).toThrow(/n/);
  });

  it('refuses keys, partial plain scalars, comments and block scalars', () => {
    expect(findings('k.runbook.yaml', `{{ .k }}: v\n`)[0]).toMatch(/plain YAML scalar or key/);
    expect(findings('k.runbook.yaml', `image: repo/app:{{ .t }}\n`)[0]).toMatch(/double-quote the scalar/);
    expect(findings('k.runbook.yaml', `a: 1 # {{ .v }}\n`)[0]).toMatch(/YAML comment/);
    expect(findings('k.runbook.yaml', `script: |\n  echo {{ .v }}\n`)[0]).toMatch(/block scalar/);
  });
});

describe('tool schemas and the audit view of parameters', () => {
  const runbook = parsed('t.runbook.sql', `SELECT {{ .n | type "number" | required }}, '{{ .p | type "password" }}', '{{ .e | type "email" | default "a@b.co" | required }}'`);

  it('describe each parameter as JSON Schema', () => {
    expect(inputSchema(runbook)).toEqual({
      type: 'object',
      properties: {
        n: { type: ['number', 'string'] },
        p: { type: 'string', writeOnly: true },
        e: { type: 'string', default: 'a@b.co', format: 'email' },
      },
      required: ['n'],
      additionalProperties: false,
    });
  });

  it('redact password-typed values', () => {
    expect(redactParams(runbook, { n: '1', p: 's3cret', e: 'x@y.z' })).toEqual({ n: '1', p: '[REDACTED]', e: 'x@y.z' });
  });
});

describe('lint', () => {
  it('reports findings with file:line:col and the tools it would expose', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-lint-'));
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    };
    write('pg/ok.runbook.sql', '-- @description Fine\nSELECT {{ .id | type "number" }};');
    write('pg/bad.runbook.sql', 'SELECT\n  {{ .name }};');
    write('docs/readme.md', '# not a runbook');
    const report = lintRepository(dir, { repository: 'demo' });
    expect(report.findings.map(formatFinding)).toEqual([expect.stringMatching(/^pg\/bad\.runbook\.sql:2:3: parameter name: a text value cannot stand bare/)]);
    expect(report.tools).toEqual([{ name: 'demo.pg.ok', path: 'pg/ok.runbook.sql', description: 'Fine', parameters: ['id?: number'], runbook: expect.objectContaining({ language: 'sql' }) }]);
  });
});
