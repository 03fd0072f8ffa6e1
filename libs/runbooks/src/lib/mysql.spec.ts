import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MysqlQuoting } from '@rungate/contracts';
import { parseRunbook, renderRunbook, validateArguments, type ParsedRunbook } from './api';
import type { SqlDialect } from './dialects';
import { formatFinding, lintRepository } from './lint';

const MYSQL = '-- @connection-types mysql\n';
const BOTH = '-- @connection-types postgres, mysql\n';
const DEFAULT: MysqlQuoting = { noBackslashEscapes: false, ansiQuotes: false };
const NBE: MysqlQuoting = { noBackslashEscapes: true, ansiQuotes: false };
const ANSI: MysqlQuoting = { noBackslashEscapes: false, ansiQuotes: true };
const mysql = (quoting: MysqlQuoting): SqlDialect => ({ kind: 'mysql', quoting });

function parsed(source: string): ParsedRunbook {
  const result = parseRunbook('m.runbook.sql', source);
  if (!result.ok) throw new Error(result.findings.map(formatFinding).join('\n'));
  return result.runbook;
}

function findings(source: string): string[] {
  const result = parseRunbook('m.runbook.sql', source);
  return result.ok ? [] : result.findings.map((f) => `${f.line}:${f.column} ${f.message}`);
}

function render(source: string, args: Record<string, unknown>, dialect?: SqlDialect): string {
  const runbook = parsed(source);
  const validation = validateArguments(runbook, args);
  if (!validation.ok) throw new Error(JSON.stringify(validation.errors));
  return renderRunbook(runbook, validation.values, dialect).split('\n').slice(1).join('\n');
}

describe('MySQL contexts', () => {
  it('escapes strings for backslash escapes, doubling quotes rather than backslash-escaping them', () => {
    const source = `${MYSQL}SELECT '{{ .v }}', "{{ .v }}", \`{{ .v }}\``;
    expect(render(source, { v: `a'b\\c"d\`e` }, mysql(DEFAULT))).toBe(`SELECT 'a''b\\\\c"d\`e', "a'b\\\\c""d\`e", \`a'b\\c"d\`\`e\``);
  });

  it('leaves backslashes alone under NO_BACKSLASH_ESCAPES', () => {
    expect(render(`${MYSQL}SELECT '{{ .v }}'`, { v: `a'b\\` }, mysql(NBE))).toBe(`SELECT 'a''b\\'`);
  });

  it('reads "…" as an identifier under ANSI_QUOTES', () => {
    expect(render(`${MYSQL}SELECT 1 AS "{{ .v }}"`, { v: `a"b\\` }, mysql(ANSI))).toBe(`SELECT 1 AS "a""b\\"`);
    expect(render(`${MYSQL}SELECT {{ .v | dquote }}`, { v: `a"b\\` }, mysql(ANSI))).toBe(`SELECT "a""b\\"`);
    expect(render(`${MYSQL}SELECT {{ .v | dquote }}`, { v: `a"b\\` }, mysql(DEFAULT))).toBe(`SELECT "a""b\\\\"`);
  });

  it('renders typed values bare, identifiers in backticks, and only those', () => {
    const source = `${MYSQL}SELECT {{ .n | type "number" }} - {{ .m | type "number" }}, {{ .b | type "boolean" }}, {{ .i | type "identifier" }}, {{ .o | options "x'y" "z" }}, {{ .s | squote }}`;
    expect(render(source, { n: 1, m: -2, b: 'true', i: 'Users', o: "x'y", s: 'a\\' }, mysql(DEFAULT))).toBe(`SELECT 1 - (-2), TRUE, \`Users\`, 'x''y', 'a\\\\'`);
    expect(findings(`${MYSQL}SELECT {{ .free }}`)[0]).toMatch(/cannot stand bare in SQL: quote it/);
  });

  it('refuses placeholders in comments of every MySQL kind, and says which "--" is one', () => {
    expect(findings(`${MYSQL}SELECT 1 # {{ .v }}`)[0]).toMatch(/2:12 parameter v: a placeholder inside a SQL comment/);
    expect(findings(`${MYSQL}SELECT 1 -- {{ .v }}`)[0]).toMatch(/inside a SQL comment/);
    expect(findings(`${MYSQL}SELECT 1 /* {{ .v }} */`)[0]).toMatch(/inside a SQL comment/);
    // `--` not followed by a space is minus minus in MySQL; right before a value it is refused.
    expect(findings(`${MYSQL}SELECT 1 --{{ .n | type "number" }}`)[0]).toMatch(/right after "--".*put a space or parentheses/);
    expect(render(`${MYSQL}SELECT 1 --1, '{{ .v }}'`, { v: 'x' }, mysql(DEFAULT))).toBe(`SELECT 1 --1, 'x'`);
  });

  it('refuses placeholders inside executable comments, whatever they contain', () => {
    for (const body of [`SELECT /*! {{ .n | type "number" }} */ 1`, `SELECT /*!50700 '{{ .v }}' */ 1`, `SELECT /*M!100100 {{ .v | squote }} */ 1`]) {
      expect(findings(`${MYSQL}${body}`)[0]).toMatch(/inside a MySQL executable comment.*move it out/);
    }
    expect(render(`${MYSQL}SELECT /*!50700 1 + */ '{{ .v }}'`, { v: 'x' }, mysql(DEFAULT))).toBe(`SELECT /*!50700 1 + */ 'x'`);
  });

  it('does not nest block comments, as MySQL does not', () => {
    expect(findings(`${MYSQL}SELECT /* a /* b */ '{{ .v }}'`)).toEqual([]);
  });

  it('refuses hex and bit literals, unsafe introducers and a placeholder after a backslash', () => {
    expect(findings(`${MYSQL}SELECT X'{{ .v }}'`)[0]).toMatch(/hex or bit literal.*UNHEX/);
    expect(findings(`${MYSQL}SELECT b'{{ .v }}'`)[0]).toMatch(/hex or bit literal/);
    expect(findings(`${MYSQL}SELECT _gbk'{{ .v }}'`)[0]).toMatch(/character set introducer _gbk/);
    expect(findings(`${MYSQL}SELECT _latin1 '{{ .v }}'`)[0]).toMatch(/introducer _latin1/);
    expect(findings(`${MYSQL}SELECT _utf8mb4'{{ .v }}', _binary'{{ .v }}', N'{{ .v }}', max'{{ .v }}'`)).toEqual([]);
    expect(findings(`${MYSQL}SELECT '\\{{ .v }}'`)).toEqual([
      expect.stringMatching(/parameter v: a placeholder right after a backslash in a MySQL string; remove the backslash before it \(MySQL; MySQL with ANSI_QUOTES\)$/),
    ]);
  });

  it('checks every sql_mode the connection might pin, and names the ones a finding is about', () => {
    // With backslash escapes \' stays inside the string; with NO_BACKSLASH_ESCAPES it ends it.
    const result = findings(`${MYSQL}SELECT 'it\\'s', '{{ .v }}'`);
    expect(result.length).toBeGreaterThan(0);
    expect(result.every((f) => /\(MySQL with NO_BACKSLASH_ESCAPES; MySQL with ANSI_QUOTES,NO_BACKSLASH_ESCAPES\)$/.test(f))).toBe(true);
  });

  it('renders one runbook for each dialect it may run on, and only those', () => {
    const source = `${BOTH}UPDATE t SET note = '{{ .v }}' WHERE name = "{{ .v }}"`;
    const value = { v: `o'k\\` };
    expect(render(source, value, { kind: 'postgres' })).toBe(`UPDATE t SET note = 'o''k\\' WHERE name = "o'k\\"`);
    expect(render(source, value, mysql(DEFAULT))).toBe(`UPDATE t SET note = 'o''k\\\\' WHERE name = "o'k\\\\"`);
    expect(render(source, value)).toBe(`UPDATE t SET note = 'o''k\\' WHERE name = "o'k\\"`);
    const mysqlOnly = parsed(`${MYSQL}SELECT '{{ .v }}'`);
    expect(() => renderRunbook(mysqlOnly, value, { kind: 'postgres' })).toThrow(/not a runbook for postgres connections/);
    // Without a dialect a MySQL runbook cannot know its connection's sql_mode: refused.
    expect(() => renderRunbook(mysqlOnly, value)).toThrow(/runs on several SQL dialects/);
    const pgOnly = parsed(`SELECT '{{ .v }}'`);
    expect(() => renderRunbook(pgOnly, value, mysql(DEFAULT))).toThrow(/not a runbook for mysql connections/);
  });

  it('keeps PostgreSQL-only findings to PostgreSQL runbooks', () => {
    // $$ quotes and E'' strings are PostgreSQL's; on MySQL `$tag$` is part of an identifier.
    expect(findings(`SELECT $tag$ {{ .v }} $tag$`)[0]).toMatch(/dollar-quoted/);
    expect(findings(`${BOTH}SELECT $tag$ {{ .v }} $tag$`)[0]).toMatch(/dollar-quoted string.*\(PostgreSQL\)$/);
  });

  it('lints a repository of MySQL runbooks with file:line:col and the fix', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-lint-mysql-'));
    writeFileSync(join(dir, 'ok.runbook.sql'), `${MYSQL}SELECT * FROM \`{{ .t | type "identifier" }}\` WHERE id = {{ .id | type "number" }};`);
    writeFileSync(join(dir, 'bad.runbook.sql'), `${MYSQL}SELECT 1\n  /*! AND '{{ .v }}' */;`);
    const report = lintRepository(dir, { repository: 'db' });
    expect(report.findings.map(formatFinding)).toEqual([expect.stringMatching(/^bad\.runbook\.sql:3:12: parameter v: a placeholder inside a MySQL executable comment/)]);
    expect(report.tools.map((t) => t.name)).toEqual(['db.ok']);
  });
});
