import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@rungate/testing';
import { Client } from 'pg';
import { parseAllDocuments } from 'yaml';
import { parseRunbook, renderRunbook, validateArguments, type ParsedRunbook } from '@rungate/runbooks';

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
