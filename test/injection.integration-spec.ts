import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MysqlQuoting } from '@rungate/contracts';
import { createTestDatabase, createTestMysqlDatabase, type TestDatabase, type TestMysqlDatabase } from '@rungate/testing';
import { createConnection, type Connection } from 'mysql2/promise';
import { Client } from 'pg';
import { parseAllDocuments } from 'yaml';
import { parseRunbook, renderRunbook, validateArguments, type ParsedRunbook, type SqlDialect } from '@rungate/runbooks';

/** Hostile values, built from pieces so every combination of attack characters appears. */
function hostileValues(): string[] {
  const atoms = [
    "'", "''", '"', '\\', '\\\'', '`', '$', '$$', '$x$', '$tag$', '${HOME}', '$(touch CANARY)', '`touch CANARY`', ';', '; DROP TABLE t; --',
    '--', '/*', '*/', '#', '\n', '\r\n', '\t', '&&', '||', '|', '>', '<', '<<EOF', '!', '%', '*', '?', '~', '{', '}', '[', ']',
    '&anchor', '*alias', '!!python/object', ': ', '- ', '? ', '@', "E'", 'U&\'', '\u02bc', '\uff07', '\u2019', '\u201c', '\u2028', '\u00a0',
    '\u0085', '\ufeff', '\u202e', 'é', '😀', ' ', '',
  ];
  const values = new Set<string>();
  for (const a of atoms) {
    values.add(a);
    values.add(`x${a}y`);
    for (const b of ["'", '"', '\\', '$(id)', '\n', ';', '`', '$$']) values.add(`${a}${b}`);
  }
  values.add("'; DELETE FROM injection_probe; SELECT '");
  values.add("\\'; DELETE FROM injection_probe; --");
  values.add("x' || (SELECT current_user) || '");
  values.add('"; touch CANARY; echo "');
  values.add("'; touch CANARY; echo '");
  values.add('a\'"$`\\\n;|&<>(){}[]*?~#!%');
  // MySQL: backslash sequences its strings know, Ctrl-Z, executable comments, and the bytes of
  // the GBK/SJIS escaping attacks (0xbf27, 0xbf5c27; 縗 is 0xbf5c in GBK) as UTF-8 text.
  for (const mysql of ['\\0', '\\Z', '\u001a', '\\\'', "\\\\'", '\\"', '\u00bf\'', '\u00bf\\\'', '\u7e17\'', '\u7e17\\', '\u00a5\\\'', '/*!', '/*M!', '/*!50000 SELECT 1 */', '-- ', '--x', '# ', '?', '??', ':name', '%_', '\\%', '``', '`;`', "'' OR 1=1 -- ", '" OR ""="']) {
    values.add(mysql);
    values.add(`x${mysql}y`);
    values.add(`${mysql}'`);
  }
  return [...values].filter((v) => v.length > 0);
}

function parsed(path: string, source: string): ParsedRunbook {
  const result = parseRunbook(path, source);
  if (!result.ok) throw new Error(JSON.stringify(result.findings));
  return result.runbook;
}

function render(runbook: ParsedRunbook, value: string): string {
  const validation = validateArguments(runbook, { v: value });
  if (!validation.ok) throw new Error(JSON.stringify(validation.errors));
  return renderRunbook(runbook, validation.values);
}

const VALUES = hostileValues();

describe('injection corpus', () => {
  it('has at least 500 hostile values', () => {
    expect(VALUES.length).toBeGreaterThanOrEqual(500);
  });

  it('refuses NUL in every value before anything is rendered', () => {
    const runbook = parsed('n.runbook.sql', "SELECT '{{ .v }}'");
    for (const value of ['\u0000', "a\u0000'; DROP TABLE t; --", '\u0000\u0000']) {
      expect(validateArguments(runbook, { v: value })).toMatchObject({ ok: false, errors: [{ constraint: 'characters' }] });
    }
  });

  describe('SQL, executed on PostgreSQL', () => {
    let db: TestDatabase;
    let client: Client;

    beforeAll(async () => {
      db = await createTestDatabase('rginject');
      client = new Client({ connectionString: db.url });
      await client.connect();
      await client.query('CREATE TABLE injection_probe (id serial PRIMARY KEY, v text, ctx text); CREATE TABLE "keep" (x int); INSERT INTO "keep" VALUES (1);');
    });

    afterAll(async () => {
      await client?.end();
      await db?.drop();
    });

    const contexts: [string, string][] = [
      ['single-quoted string', "INSERT INTO injection_probe (v, ctx) VALUES ('{{ .v }}', 'single');"],
      ["E'' string", "INSERT INTO injection_probe (v, ctx) VALUES (E'{{ .v }}', 'estring');"],
      ['quoted identifier', `INSERT INTO injection_probe (v, ctx) SELECT '{{ .v }}', 'ident' WHERE 'x' <> 'y' AND NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = '{{ .v }}' AND relname = "pg_class"."relname" || '{{ .v }}');`],
      ['squote helper, bare', 'INSERT INTO injection_probe (v, ctx) VALUES ({{ .v | squote }}, \'squote\');'],
    ];

    it.each(contexts)('%s: one row, the value byte for byte, nothing else', async (_name, template) => {
      const runbook = parsed('i.runbook.sql', template);
      const ctx = /'(\w+)'\);?$|'(\w+)' WHERE/.exec(template);
      const tag = ctx?.[1] ?? ctx?.[2] ?? '';
      await client.query('DELETE FROM injection_probe');
      const statements = VALUES.map((value) => render(runbook, value));
      // All statements in one simple query: an injected extra statement would run too.
      await client.query(statements.join('\n'));
      const { rows } = await client.query('SELECT v, ctx FROM injection_probe ORDER BY id');
      expect(rows.map((r) => r.v)).toEqual(VALUES);
      expect(new Set(rows.map((r) => r.ctx))).toEqual(new Set([tag]));
      expect((await client.query('SELECT x FROM "keep"')).rows).toEqual([{ x: 1 }]);
    });

    it('quoted identifiers hold any value as one identifier', async () => {
      const runbook = parsed('id.runbook.sql', 'SELECT 1 AS "{{ .v }}";');
      for (const value of VALUES.filter((v) => v.length <= 63 && !v.includes('\u0000'))) {
        const result = await client.query(render(runbook, value));
        expect(result.fields.map((f) => f.name)).toEqual([value]);
      }
    });
  });

  describe.each<[string, MysqlQuoting]>([
    ['backslash escapes (MySQL\'s default)', { noBackslashEscapes: false, ansiQuotes: false }],
    ['NO_BACKSLASH_ESCAPES', { noBackslashEscapes: true, ansiQuotes: false }],
    ['ANSI_QUOTES', { noBackslashEscapes: false, ansiQuotes: true }],
    ['ANSI_QUOTES,NO_BACKSLASH_ESCAPES', { noBackslashEscapes: true, ansiQuotes: true }],
  ])('SQL, executed on MariaDB with %s', (_mode, quoting) => {
    let db: TestMysqlDatabase;
    let conn: Connection;
    const dialect: SqlDialect = { kind: 'mysql', quoting };
    const sqlMode = ['STRICT_TRANS_TABLES', ...(quoting.ansiQuotes ? ['ANSI_QUOTES'] : []), ...(quoting.noBackslashEscapes ? ['NO_BACKSLASH_ESCAPES'] : [])].join(',');
    const mysqlRender = (runbook: ParsedRunbook, value: string) => {
      const validation = validateArguments(runbook, { v: value });
      if (!validation.ok) throw new Error(JSON.stringify(validation.errors));
      return renderRunbook(runbook, validation.values, dialect);
    };

    beforeAll(async () => {
      db = await createTestMysqlDatabase('rginject');
      const url = new URL(db.url);
      // As the executor connects: utf8mb4, the body sent as is, every statement of it run.
      conn = await createConnection({ host: url.hostname, port: Number(url.port), user: db.user, password: db.password, database: db.name, charset: 'UTF8MB4_GENERAL_CI', multipleStatements: true, queryFormat: (sql: string) => sql });
      await conn.query(`SET SESSION sql_mode = '${sqlMode}'`);
      await conn.query('CREATE TABLE injection_probe (id int AUTO_INCREMENT PRIMARY KEY, v longtext COLLATE utf8mb4_bin, ctx varchar(20)); CREATE TABLE `keep` (x int); INSERT INTO `keep` VALUES (1)');
    });

    afterAll(async () => {
      await conn?.end();
      await db?.drop();
    });

    const contexts: [string, string, string][] = [
      ["'…' string", "INSERT INTO injection_probe (v, ctx) VALUES ('{{ .v }}', 'single');", 'single'],
      ['squote helper, bare', "INSERT INTO injection_probe (v, ctx) VALUES ({{ .v | squote }}, 'squote');", 'squote'],
      ["'…' inside a function call", "INSERT INTO injection_probe (v, ctx) SELECT CONCAT('{{ .v }}', ''), 'concat' FROM `keep` WHERE x = 1;", 'concat'],
      ...(quoting.ansiQuotes
        ? []
        : ([
            ['"…" string', `INSERT INTO injection_probe (v, ctx) VALUES ("{{ .v }}", 'double');`, 'double'],
            ['dquote helper, bare', "INSERT INTO injection_probe (v, ctx) VALUES ({{ .v | dquote }}, 'dquote');", 'dquote'],
          ] as [string, string, string][])),
    ];

    it.each(contexts)('%s: one row, the value byte for byte, nothing else', async (_name, template, tag) => {
      const runbook = parsed('i.runbook.sql', `-- @connection-types mysql\n${template}`);
      await conn.query('DELETE FROM injection_probe');
      // All statements in one COM_QUERY: an injected extra statement would run too.
      await conn.query(VALUES.map((value) => mysqlRender(runbook, value)).join('\n'));
      const [rows] = (await conn.query('SELECT v, HEX(v) AS hex, ctx FROM injection_probe ORDER BY id')) as unknown as [{ v: string; hex: string; ctx: string }[]];
      expect(rows.map((r) => r.v)).toEqual(VALUES);
      expect(rows.map((r) => r.hex.toLowerCase())).toEqual(VALUES.map((v) => Buffer.from(v, 'utf8').toString('hex')));
      expect(new Set(rows.map((r) => r.ctx))).toEqual(new Set([tag]));
      const [keep] = (await conn.query('SELECT x FROM `keep`')) as unknown as [unknown[]];
      expect(keep).toEqual([{ x: 1 }]);
    });

    it.each([
      ['backticks', 'SELECT 1 AS `{{ .v }}`;'],
      ...(quoting.ansiQuotes ? [['"…" (ANSI_QUOTES)', 'SELECT 1 AS "{{ .v }}";']] : []),
    ])('quoted identifiers in %s hold any value as one identifier', async (_name, template) => {
      const runbook = parsed('id.runbook.sql', `-- @connection-types mysql\n${template}`);
      // MySQL identifiers: at most 64 characters of the Basic Multilingual Plane; MariaDB drops
      // an alias's leading white space and rewrites Ctrl-Z in it, and a trailing space is not allowed.
      const names = VALUES.filter((v) => [...v].length <= 64 && !/^\s|\s$/.test(v) && !v.includes('\u001a') && !/[\u{10000}-\u{10ffff}]/u.test(v));
      expect(names.length).toBeGreaterThan(400);
      const [results] = (await conn.query(names.map((value) => mysqlRender(runbook, value)).join('\n'))) as unknown as [{ [name: string]: number }[][]];
      expect(results.map((rows) => Object.keys(rows[0] ?? {})[0])).toEqual(names);
    });
  });

  describe('POSIX shell, executed by sh', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-inject-'));
    const contexts: [string, string][] = [
      ['single-quoted', "printf '%s\\036' '{{ .v }}'"],
      ['double-quoted', 'printf \'%s\\036\' "{{ .v }}"'],
      ['bare word', "printf '%s\\036' {{ .v }}"],
      ['bare word inside $(…)', "printf '%s\\036' \"$(printf '%s' {{ .v }})\""],
      ['dquote helper', "printf '%s\\036' {{ .v | dquote }}"],
    ];

    it.each(contexts)('%s: prints exactly the value and runs nothing else', (_name, template) => {
      const runbook = parsed('i.runbook.sh', template);
      const script = VALUES.map((value) => render(runbook, value)).join('\n');
      const out = execFileSync('/bin/sh', ['-c', script], { cwd: dir, env: { PATH: '/usr/bin:/bin', HOME: dir }, encoding: 'utf8' });
      const printed = out.split('\u001e').slice(0, -1);
      // $(…) strips trailing newlines by definition; everything else must be exact.
      const expected = template.includes('$(printf') ? VALUES.map((v) => v.replace(/\n+$/, '')) : VALUES;
      expect(printed).toEqual(expected);
      expect(existsSync(join(dir, 'CANARY'))).toBe(false);
    });
  });

  describe('Kubernetes YAML, parsed', () => {
    it.each([
      ['whole plain scalar', 'metadata:\n  name: fixed\n  labels:\n    value: {{ .v }}\n    after: kept\n'],
      ['inside a double-quoted scalar', 'metadata:\n  name: fixed\n  labels:\n    value: "{{ .v }}"\n    after: kept\n'],
      ['inside a sequence', 'items:\n  - {{ .v }}\n  - kept\nafter: kept\n'],
    ])('%s: one document, the same shape, the value intact', (_name, template) => {
      const runbook = parsed('k.runbook.yaml', template);
      for (const value of VALUES) {
        const docs = parseAllDocuments(render(runbook, value));
        expect(docs).toHaveLength(1);
        const doc = docs[0];
        expect(doc?.errors).toEqual([]);
        const data = doc?.toJS() as { metadata?: { name: string; labels: { value: string; after: string } }; items?: string[]; after?: string };
        if (data.metadata) {
          expect(data.metadata).toEqual({ name: 'fixed', labels: { value, after: 'kept' } });
        } else {
          expect(data).toEqual({ items: [value, 'kept'], after: 'kept' });
        }
      }
    });
  });
});
