import { RenderError, parseRunbook, renderRunbook, validateArguments } from './api';
import { formatFinding } from './lint';

/**
 * Every output helper in every lexical context: either the value lands escaped for that
 * context (the statement keeps its reviewed shape), or the runbook is refused with
 * file:line:col and the fix. The pipeline's last function decides: after encodeb64 or
 * decodeb64 the value is text, whatever type was declared.
 */
const HOSTILE = `x'); DROP TABLE t; --"\`$(id)\\`;
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

function outcome(path: string, template: string, value: string): string {
  const source = `-- line one\n${template}\n`;
  const parsed = parseRunbook(path, source);
  if (!parsed.ok) return `finding ${parsed.findings.map(formatFinding).join('; ')}`;
  const validation = validateArguments(parsed.runbook, { v: value });
  if (!validation.ok) throw new Error(JSON.stringify(validation.errors));
  return renderRunbook(parsed.runbook, validation.values).split('\n')[1] as string;
}

describe('output helpers in SQL', () => {
  const sql = (template: string, value = HOSTILE) => outcome('q.runbook.sql', template, value);

  it.each([
    ['none', `SELECT '{{ .v }}'`, HOSTILE, `SELECT 'x''); DROP TABLE t; --"\`$(id)\\'`],
    ['encodeb64', `SELECT '{{ .v | encodeb64 }}'`, HOSTILE, `SELECT '${b64(HOSTILE)}'`],
    ['decodeb64', `SELECT '{{ .v | decodeb64 }}'`, b64(HOSTILE), `SELECT 'x''); DROP TABLE t; --"\`$(id)\\'`],
    ['decodeb64 in E-string', `SELECT E'{{ .v | decodeb64 }}'`, b64(HOSTILE), `SELECT E'x''); DROP TABLE t; --"\`$(id)\\\\'`],
    ['decodeb64 in an identifier', `SELECT "{{ .v | decodeb64 }}"`, b64(HOSTILE), `SELECT "x'); DROP TABLE t; --""\`$(id)\\"`],
    ['encodeb64 in an identifier', `SELECT "{{ .v | encodeb64 }}"`, 'a', `SELECT "YQ=="`],
  ])('inside quotes, %s: escaped for the quotes', (_label, template, value, rendered) => {
    expect(sql(template, value)).toBe(rendered);
  });

  it.each(['squote', 'dquote', 'quotechar "\'"'])('inside quotes, %s: refused, the placeholder is already quoted', (helper) => {
    expect(sql(`SELECT '{{ .v | ${helper} }}'`)).toBe(`finding q.runbook.sql:2:9: parameter v: is already inside quotes; remove squote/dquote/quotechar`);
    expect(sql(`SELECT "{{ .v | ${helper} }}"`)).toMatch(/^finding q\.runbook\.sql:2:9: parameter v: is already inside quotes/);
  });

  it.each([
    ['squote', `SELECT {{ .v | type "number" | squote }}`, '12', `SELECT '12'`],
    ['dquote', `SELECT {{ .v | dquote }}`, HOSTILE, `SELECT "x'); DROP TABLE t; --""\`$(id)\\"`],
    ['quotechar', `SELECT {{ .v | quotechar "'" }}`, HOSTILE, `SELECT 'x''); DROP TABLE t; --"\`$(id)\\'`],
    ['decodeb64 then squote', `SELECT {{ .v | decodeb64 | squote }}`, b64(HOSTILE), `SELECT 'x''); DROP TABLE t; --"\`$(id)\\'`],
    ['a number, bare', `SELECT {{ .v | type "number" }}`, '-3', `SELECT (-3)`],
  ])('bare, %s: a quoted literal or a checked number', (_label, template, value, rendered) => {
    expect(sql(template, value)).toBe(rendered);
  });

  it('bare, a number piped into decodeb64: refused, its decoded value could end the statement', () => {
    expect(sql(`SELECT * FROM t WHERE id = {{ .x | type "number" | decodeb64 }}`)).toBe(
      `finding q.runbook.sql:2:28: parameter x: decodeb64 makes arbitrary text, which cannot stand bare in SQL whatever the declared type: ` +
        `write {{ .x | type "number" | decodeb64 | squote }}, or put the placeholder inside '…'`,
    );
  });

  it.each([
    ['encodeb64', `SELECT {{ .v | type "number" | encodeb64 }}`, /encodeb64 makes base64 text .* cannot stand bare in SQL whatever the declared type: write \{\{ \.v \| type "number" \| encodeb64 \| squote \}\}/],
    ['decodeb64 on text', `SELECT {{ .v | decodeb64 }}`, /decodeb64 makes arbitrary text, which cannot stand bare in SQL/],
    ['an identifier decoded', `SELECT {{ .v | type "identifier" | decodeb64 }}`, /decodeb64 makes arbitrary text/],
    ['text', `SELECT {{ .v }}`, /a text value cannot stand bare in SQL: quote it/],
  ])('bare, %s: refused with the fix', (_label, template, message) => {
    expect(sql(template)).toMatch(new RegExp(`^finding q\\.runbook\\.sql:2:8: parameter v: ${message.source}`));
  });

  it('refuses a quoting helper that does not end the pipeline, showing the order that does', () => {
    expect(sql(`SELECT {{ .v | squote | decodeb64 }}`)).toBe(
      'finding q.runbook.sql:2:8: parameter v: the quoting helper must end the pipeline, after decodeb64: write {{ .v | decodeb64 | squote }}',
    );
    expect(sql(`SELECT {{ .v | dquote | encodeb64 | required "v" }}`)).toMatch(/must end the pipeline, after encodeb64: write \{\{ \.v \| encodeb64 \| required "v" \| dquote \}\}/);
  });
});

describe('output helpers in shell scripts', () => {
  const sh = (template: string, value = HOSTILE) => outcome('s.runbook.sh', template, value);
  const single = `'x'\\''); DROP TABLE t; --"\`$(id)\\'`;

  it.each([
    ['single quotes, none', `echo '{{ .v }}'`, HOSTILE, `echo 'x'\\''); DROP TABLE t; --"\`$(id)\\'`],
    ['single quotes, decodeb64', `echo '{{ .v | decodeb64 }}'`, b64(HOSTILE), `echo 'x'\\''); DROP TABLE t; --"\`$(id)\\'`],
    ['single quotes, encodeb64', `echo '{{ .v | encodeb64 }}'`, HOSTILE, `echo '${b64(HOSTILE)}'`],
    ['double quotes, decodeb64', `echo "{{ .v | decodeb64 }}"`, b64(HOSTILE), `echo "x'); DROP TABLE t; --\\"\\\`\\$(id)\\\\"`],
    ['bare, none', `echo {{ .v }}`, HOSTILE, `echo ${single}`],
    ['bare, squote', `echo {{ .v | squote }}`, HOSTILE, `echo ${single}`],
    ['bare, quotechar', `echo {{ .v | quotechar "'" }}`, HOSTILE, `echo ${single}`],
    ['bare, dquote', `echo {{ .v | dquote }}`, HOSTILE, `echo "x'); DROP TABLE t; --\\"\\\`\\$(id)\\\\"`],
    ['bare, encodeb64', `echo {{ .v | encodeb64 }}`, HOSTILE, `echo '${b64(HOSTILE)}'`],
    ['bare, decodeb64', `echo {{ .v | decodeb64 }}`, b64(HOSTILE), `echo ${single}`],
    // A value must pass its type before it is decoded: these digits are also base64 of text.
    ['bare, a number decoded', `echo {{ .v | type "number" | decodeb64 }}`, '04000400', `echo 'Ӎ4Ӎ4'`],
  ])('%s: one word, escaped', (_label, template, value, rendered) => {
    expect(sh(template, value)).toBe(rendered);
  });

  it.each(['squote', 'dquote', 'quotechar "\'"'])('inside quotes, %s: refused', (helper) => {
    expect(sh(`echo "{{ .v | ${helper} }}"`)).toBe('finding s.runbook.sh:2:7: parameter v: is already inside quotes; remove squote/dquote/quotechar');
  });

  it('bare, a quoting helper before decodeb64: refused with the order that works', () => {
    expect(sh(`echo {{ .v | squote | decodeb64 }}`)).toBe(
      'finding s.runbook.sh:2:6: parameter v: the quoting helper must end the pipeline, after decodeb64: write {{ .v | decodeb64 | squote }}',
    );
  });
});

describe('output helpers in Kubernetes YAML', () => {
  const yaml = (template: string, value = HOSTILE) => outcome('k.runbook.yaml', template, value);
  const decodedLines = 'a: b\nkind: Secret';

  it.each([
    ['double quotes, decodeb64', `note: "{{ .v | decodeb64 }}"`, b64(decodedLines), `note: "a: b\\nkind: Secret"`],
    ['single quotes, decodeb64', `note: '{{ .v | decodeb64 }}'`, b64("it's"), `note: 'it''s'`],
    ['a whole scalar, decodeb64', `note: {{ .v | decodeb64 }}`, b64(decodedLines), `note: "a: b\\nkind: Secret"`],
    ['a whole scalar, encodeb64', `note: {{ .v | encodeb64 }}`, 'a', `note: "YQ=="`],
    ['a whole scalar, squote', `note: {{ .v | squote }}`, "it's", `note: 'it''s'`],
    ['a whole scalar, dquote', `note: {{ .v | dquote }}`, 'a"b', `note: "a\\"b"`],
    ['a number, decoded: text, so quoted', `replicas: {{ .v | type "number" | decodeb64 }}`, '04000400', `replicas: "Ӎ4Ӎ4"`],
    ['a number, bare', `replicas: {{ .v | type "number" }}`, '3', `replicas: 3`],
  ])('%s: a quoted scalar, or a checked number', (_label, template, value, rendered) => {
    expect(yaml(template, value)).toBe(rendered);
  });

  it('a decoded line break cannot go into a single-quoted scalar: refused at render, never written', () => {
    const parsed = parseRunbook('k.runbook.yaml', `note: '{{ .v | decodeb64 }}'\n`);
    if (!parsed.ok) throw new Error('expected a valid runbook');
    expect(() => renderRunbook(parsed.runbook, { v: b64(decodedLines) })).toThrow(RenderError);
  });

  it.each(['squote', 'dquote'])('inside quotes, %s: refused', (helper) => {
    expect(yaml(`note: "{{ .v | ${helper} }}"`)).toBe('finding k.runbook.yaml:2:8: parameter v: is already inside quotes; remove squote/dquote/quotechar');
  });

  it('a quoting helper before encodeb64: refused', () => {
    expect(yaml(`note: {{ .v | squote | encodeb64 }}`)).toMatch(/^finding k\.runbook\.yaml:2:7: parameter v: the quoting helper must end the pipeline, after encodeb64/);
  });
});

describe('output helpers in MySQL', () => {
  const DEFAULT = { kind: 'mysql', quoting: { noBackslashEscapes: false, ansiQuotes: false } } as const;
  const mysql = (template: string, value: string) => {
    const parsed = parseRunbook('m.runbook.sql', `-- @connection-types mysql\n${template}\n`);
    if (!parsed.ok) return `finding ${parsed.findings.map(formatFinding).join('; ')}`;
    const validation = validateArguments(parsed.runbook, { v: value });
    if (!validation.ok) throw new Error(JSON.stringify(validation.errors));
    return renderRunbook(parsed.runbook, validation.values, DEFAULT).split('\n')[1] as string;
  };

  it('bare, a number piped into decodeb64: refused as in PostgreSQL', () => {
    expect(mysql(`SELECT {{ .v | type "number" | decodeb64 }}`, '1')).toBe(
      `finding m.runbook.sql:2:8: parameter v: decodeb64 makes arbitrary text, which cannot stand bare in SQL whatever the declared type: write {{ .v | type "number" | decodeb64 | squote }}, or put the placeholder inside '…'`,
    );
  });

  it('decoded inside quotes, or quoted by a helper that ends the pipeline: escaped for MySQL', () => {
    expect(mysql(`SELECT '{{ .v | decodeb64 }}', {{ .v | decodeb64 | squote }}`, b64("x'\\y"))).toBe(`SELECT 'x''\\\\y', 'x''\\\\y'`);
  });
});
