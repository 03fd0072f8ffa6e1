import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MysqlQuoting } from '@rungate/contracts';
import { envFor, parseRunbook, RenderError, renderRunbook, validateArguments, type ParsedRunbook, type SqlDialect } from '@rungate/runbooks';
import { createTestDatabase, createTestMysqlDatabase, type TestDatabase, type TestMysqlDatabase } from '@rungate/testing';
import fc from 'fast-check';
import { createConnection, type Connection } from 'mysql2/promise';
import { Client } from 'pg';
import { recordFigures, size } from './figures';

const RUNS = size('RELIABILITY_FAST_CHECK_RUNS', 60, 1000);

/**
 * Pieces of attacks on every layer — SQL quotes and comments, E'' backslashes, dollar quoting,
 * psql's \gexec, shell substitution, JSON quotes, line breaks, NUL, lone surrogates (ill-formed
 * UTF-16), Ctrl-Z, non-ASCII — joined with arbitrary text into one value.
 */
const ATOMS = [
  "'", "''", '"', '\\', "\\'", '`', '\n', '\r\n', '\t', '\u0000', '\ud800', '\udfff', '\u001a', '$', '$$', '$x$', '${HOME}', '$(touch CANARY)', '`touch CANARY`',
  '\\gexec', '\\! touch CANARY', ';', '; DROP TABLE keep; --', '--', '/*', '*/', '#', '%', '_', "E'", '{"a": 1}', '":', '\u2028', '\u00a0', 'é', '😀', ' ', 'x',
];
const unit = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ATOMS) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)) },
);
const hostile: fc.Arbitrary<string> = fc.array(unit, { maxLength: 10 }).map((parts) => parts.join(''));

/** NUL and lone surrogates are refused in every parameter, whatever its type. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what is looked for
const REFUSED_IN_EVERY_TYPE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const figures = { injectionsTried: 0, injectionsSucceeded: 0, refused: 0, executed: 0, byTarget: {} as Record<string, number> };

function parsed(path: string, source: string): ParsedRunbook {
  const result = parseRunbook(path, source);
  if (!result.ok) throw new Error(JSON.stringify(result.findings));
  return result.runbook;
}

/**
 * Validates `value` for the runbook's parameter v: either a clear refusal (NUL or a lone
 * surrogate: always; otherwise what the type forbids) or the rendered body.
 */
function renderOrRefuse(runbook: ParsedRunbook, value: string, dialect?: SqlDialect): { body: string; env: Record<string, string> } | undefined {
  figures.injectionsTried++;
  const validation = validateArguments(runbook, { v: value });
  if (validation.ok && value === '') {
    // An optional value left empty: fine where it is quoted, refused where it would stand bare.
    try {
      return { body: renderRunbook(runbook, validation.values, dialect), env: envFor(runbook, validation.values) };
    } catch (error) {
      expect(error).toBeInstanceOf(RenderError);
      figures.refused++;
      return undefined;
    }
  }
  if (!validation.ok) {
    figures.refused++;
    const constraints = validation.errors.map((e) => e.constraint);
    if (REFUSED_IN_EVERY_TYPE.test(value)) expect(constraints).toEqual(['characters']);
    else expect(constraints.every((c) => c === 'type' || c === 'options')).toBe(true);
    return undefined;
  }
  // Nothing may pass that every type refuses.
  expect(REFUSED_IN_EVERY_TYPE.test(value)).toBe(false);
  return { body: renderRunbook(runbook, validation.values, dialect), env: envFor(runbook, validation.values) };
}

/** Counts an executed value; a value that did not arrive as sent is a successful injection. */
function arrived(target: string, actual: unknown, expected: unknown): void {
  figures.executed++;
  figures.byTarget[target] = (figures.byTarget[target] ?? 0) + 1;
  if (JSON.stringify(actual) !== JSON.stringify(expected)) figures.injectionsSucceeded++;
  expect(actual).toEqual(expected);
}

/** Values of each type: well-formed ones, hostile ones, and well-formed ones with something hostile after them. */
function valuesOf(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(valid, hostile, fc.tuple(valid, hostile).map(([v, h]) => v + h), fc.tuple(hostile, valid).map(([h, v]) => h + v));
}
const TYPED: Record<string, fc.Arbitrary<string>> = {
  number: fc.oneof(fc.integer().map(String), fc.double({ noNaN: true, noDefaultInfinity: true }).map(String), fc.constantFrom('-0', '+1', '.5', '1e3', '1E-2')),
  boolean: fc.constantFrom('true', 'false'),
  email: fc.emailAddress(),
  url: fc.webUrl(),
  date: fc.date({ min: new Date('1970-01-01'), max: new Date('2999-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
  time: fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`),
  tel: fc.stringMatching(/^\+?[0-9 ()-]{3,20}$/),
  identifier: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_$]{0,20}$/),
};
const FREE_TEXT = ['text', 'textarea', 'password'] as const;

afterAll(() => recordFigures('escaping', { ...figures, runsPerProperty: RUNS }));

describe(`escaping as a property (${RUNS} runs per property)`, () => {
  describe('PostgreSQL', () => {
    let db: TestDatabase;
    let client: Client;

    beforeAll(async () => {
      db = await createTestDatabase('rgescape');
      client = new Client({ connectionString: db.url });
      await client.connect();
      await client.query('CREATE TABLE keep (x int); INSERT INTO keep VALUES (1)');
    });
    afterAll(async () => {
      await client?.end();
      await db?.drop();
    });

    /** Runs the body as one simple query (an injected second statement would run too): one result, one row, one column. */
    async function single(body: string): Promise<{ name: string; value: unknown }> {
      const result = (await client.query(body)) as unknown as { rows: Record<string, unknown>[]; fields: { name: string }[] } | unknown[];
      expect(Array.isArray(result)).toBe(false);
      const { rows, fields } = result as { rows: Record<string, unknown>[]; fields: { name: string }[] };
      expect(rows).toHaveLength(1);
      expect(fields).toHaveLength(1);
      const name = fields[0]?.name as string;
      return { name, value: rows[0]?.[name] };
    }

    it.each(FREE_TEXT)('a %s value arrives byte for byte in every string context, or is refused', async (type) => {
      const contexts = [
        `SELECT '{{ .v | type "${type}" }}' AS v`,
        `SELECT E'{{ .v | type "${type}" }}' AS v`,
        `SELECT {{ .v | type "${type}" | squote }} AS v`,
        `SELECT convert_from(decode('{{ .v | type "${type}" | encodeb64 }}', 'base64'), 'UTF8') AS v`,
      ].map((source) => parsed('p.runbook.sql', source));
      const ident = parsed('i.runbook.sql', `SELECT 1 AS "{{ .v | type "${type}" }}"`);
      await fc.assert(
        fc.asyncProperty(hostile, async (value) => {
          for (const runbook of contexts) {
            const rendered = renderOrRefuse(runbook, value);
            if (rendered) arrived('postgres', (await single(rendered.body)).value, value);
          }
          // A quoted identifier: PostgreSQL's own limits (not empty, 63 bytes) are refusals of its own, never another shape.
          if (value !== '' && Buffer.byteLength(value) <= 63) {
            const rendered = renderOrRefuse(ident, value);
            if (rendered) arrived('postgres', (await single(rendered.body)).name, value);
          }
        }),
        { numRuns: RUNS },
      );
      expect((await client.query('SELECT x FROM keep')).rows).toEqual([{ x: 1 }]);
    });

    it.each(Object.keys(TYPED))('a %s value is refused unless it is one, and then stands where the type allows it', async (type) => {
      const bare = type === 'number' || type === 'boolean' || type === 'identifier';
      const runbook = parsed('t.runbook.sql', bare ? `SELECT ({{ .v | type "${type}" }}) AS v` : `SELECT '{{ .v | type "${type}" }}' AS v`);
      const alias = parsed('a.runbook.sql', `SELECT 1 AS {{ .v | type "identifier" }}`);
      await fc.assert(
        fc.asyncProperty(valuesOf(TYPED[type] as fc.Arbitrary<string>), async (value) => {
          if (type === 'identifier') {
            const rendered = renderOrRefuse(alias, value);
            if (rendered) arrived('postgres', (await single(rendered.body)).name, value);
            return;
          }
          const rendered = renderOrRefuse(runbook, value);
          if (!rendered) return;
          const { value: got } = await single(rendered.body);
          if (type === 'number') arrived('postgres', Number(got) + 0, Number(value) + 0);
          else if (type === 'boolean') arrived('postgres', got, value === 'true');
          else arrived('postgres', got, value);
        }),
        { numRuns: RUNS },
      );
    });

    it('an options value comes from the reviewed list, quoted, or is refused', async () => {
      const options = ['open', "it's", 'a"b', 'x\\y', '$$'];
      const runbook = parsed('o.runbook.sql', `SELECT {{ .v | options ${options.map((o) => JSON.stringify(o)).join(' ')} }} AS v`);
      await fc.assert(
        fc.asyncProperty(valuesOf(fc.constantFrom(...options)), async (value) => {
          const rendered = renderOrRefuse(runbook, value);
          if (rendered) arrived('postgres', (await single(rendered.body)).value, value);
        }),
        { numRuns: RUNS },
      );
    });
  });

  describe.each<[string, MysqlQuoting]>([
    ['default sql_mode (backslash escapes)', { noBackslashEscapes: false, ansiQuotes: false }],
    ['ANSI_QUOTES,NO_BACKSLASH_ESCAPES', { noBackslashEscapes: true, ansiQuotes: true }],
  ])('MariaDB, %s', (_mode, quoting) => {
    let db: TestMysqlDatabase;
    let conn: Connection;
    const dialect: SqlDialect = { kind: 'mysql', quoting };

    beforeAll(async () => {
      db = await createTestMysqlDatabase('rgescape');
      const url = new URL(db.url);
      // As the executor connects: utf8mb4, the body sent as is, every statement of it run.
      conn = await createConnection({ host: url.hostname, port: Number(url.port), user: db.user, password: db.password, database: db.name, charset: 'UTF8MB4_GENERAL_CI', multipleStatements: true, queryFormat: (sql: string) => sql });
      const sqlMode = ['STRICT_TRANS_TABLES', ...(quoting.ansiQuotes ? ['ANSI_QUOTES'] : []), ...(quoting.noBackslashEscapes ? ['NO_BACKSLASH_ESCAPES'] : [])].join(',');
      await conn.query(`SET SESSION sql_mode = '${sqlMode}'`);
    });
    afterAll(async () => {
      await conn?.end();
      await db?.drop();
    });

    it.each(FREE_TEXT)('a %s value arrives byte for byte in every string context, or is refused', async (type) => {
      const sources = [
        `SELECT '{{ .v | type "${type}" }}' AS v, HEX('{{ .v | type "${type}" }}') AS hex`,
        `SELECT {{ .v | type "${type}" | squote }} AS v, HEX({{ .v | type "${type}" | squote }}) AS hex`,
        ...(quoting.ansiQuotes ? [] : [`SELECT "{{ .v | type "${type}" }}" AS v, HEX("{{ .v | type "${type}" }}") AS hex`]),
      ];
      const contexts = sources.map((source) => parsed('m.runbook.sql', `-- @connection-types mysql\n${source}`));
      await fc.assert(
        fc.asyncProperty(hostile, async (value) => {
          for (const runbook of contexts) {
            const rendered = renderOrRefuse(runbook, value, dialect);
            if (!rendered) continue;
            const [rows] = (await conn.query(rendered.body)) as unknown as [{ v: string; hex: string }[]];
            // One result set of one row (an injected statement would add a result set).
            expect(rows).toHaveLength(1);
            arrived('mariadb', [rows[0]?.v, rows[0]?.hex.toLowerCase()], [value, Buffer.from(value, 'utf8').toString('hex')]);
          }
        }),
        { numRuns: RUNS },
      );
    });

    it('a number is refused unless it is one, and then stands bare', async () => {
      const runbook = parsed('n.runbook.sql', '-- @connection-types mysql\nSELECT ({{ .v | type "number" }}) AS v');
      await fc.assert(
        fc.asyncProperty(valuesOf(TYPED['number'] as fc.Arbitrary<string>), async (value) => {
          const rendered = renderOrRefuse(runbook, value, dialect);
          if (!rendered) return;
          const [rows] = (await conn.query(rendered.body)) as unknown as [{ v: unknown }[]];
          expect(rows).toHaveLength(1);
          // -0 and 0 are one number to SQL.
          arrived('mariadb', Number(rows[0]?.v) + 0, Number(value) + 0);
        }),
        { numRuns: RUNS },
      );
    });
  });

  describe('POSIX sh', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-escape-'));
    const sh = (script: string, env: Record<string, string> = {}) =>
      spawnSync('/bin/sh', ['-c', script], { cwd: dir, env: { PATH: '/usr/bin:/bin', HOME: dir, ...env } });

    it.each(FREE_TEXT)('a %s value is one argument, byte for byte, in every shell context, or is refused', (type) => {
      const contexts = [
        `printf '%s' '{{ .v | type "${type}" }}'`,
        `printf '%s' "{{ .v | type "${type}" }}"`,
        `printf '%s' {{ .v | type "${type}" }}`,
        `printf '%s' {{ .v | type "${type}" | dquote }}`,
        `printf '%s' "$(printf '%s.' {{ .v | type "${type}" }})"`,
        `: {{ .v | type "${type}" | asenv "V" }}; printf '%s' "$V"`,
      ].map((source) => parsed('s.runbook.sh', source));
      fc.assert(
        fc.property(hostile, (value) => {
          const rendered = contexts.map((runbook) => renderOrRefuse(runbook, value));
          if (rendered.every((r) => r === undefined)) return;
          // One sh per value, each context's output into a file of its own.
          const out = sh(rendered.map((r, index) => `{\n${r?.body ?? ':'}\n} > out.${index}`).join('\n'), Object.assign({}, ...rendered.map((r) => r?.env ?? {})) as Record<string, string>);
          expect(out.status).toBe(0);
          for (const [index, r] of rendered.entries()) {
            if (!r) continue;
            const printed = readFileSync(join(dir, `out.${index}`), 'utf8');
            // $(…) strips trailing newlines by definition: the "." after the value keeps them.
            arrived('sh', index === 4 ? printed.replace(/\.$/, '') : printed, value);
          }
          expect(existsSync(join(dir, 'CANARY'))).toBe(false);
        }),
        { numRuns: RUNS },
      );
    });
  });

  describe('nested contexts: escaped for both layers, or refused by lint at file:line:col with the fix', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase('rgnested');
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('refuses JSON inside a quoted shell argument and SQL inside a here-document or a quoted shell argument', () => {
      const refused: [string, RegExp][] = [
        [`curl -sf -d '{"name": "{{ .v }}"}' http://127.0.0.1:9/`, /inside "…" within a '…' shell string.*jq -n --arg/],
        [`printf '%s' '{"n": {{ .v }}}'`, /inside a JSON document in a '…' shell string/],
        [`psql -X <<EOF\nSELECT '{{ .v }}';\nEOF\n`, /inside a here-document.*asenv/],
        [`psql -X -c "SELECT '{{ .v }}'"`, /inside '…' within a "…" shell string.*psql -v v=/],
      ];
      for (const [source, finding] of refused) {
        const result = parseRunbook('ops/nested.runbook.sh', source);
        expect(result.ok).toBe(false);
        const lines = source.slice(0, source.indexOf('{{')).split('\n');
        const at = `${lines.length}:${(lines.at(-1)?.length ?? 0) + 1}`;
        if (!result.ok) expect(`${result.findings[0]?.line}:${result.findings[0]?.column} ${result.findings[0]?.message}`).toMatch(new RegExp(`^${at} parameter v: .*${finding.source}`));
      }
    });

    it('the fixes lint names carry any value through both layers byte for byte: JSON built by jq, SQL variables by psql', () => {
      const json = parsed('j.runbook.sh', `jq -cn --arg v {{ .v }} '{"name": $v}'`);
      const url = new URL(db.url);
      const sql = parsed('q.runbook.sh', `psql -X -At -h ${url.hostname} -p ${url.port || 5432} -U postgres -d ${url.pathname.slice(1)} -v v={{ .v }} <<'SQL'\nSELECT encode(convert_to(:'v', 'UTF8'), 'hex');\nSQL\n`);
      fc.assert(
        fc.property(hostile, (value) => {
          const jq = renderOrRefuse(json, value);
          if (jq) arrived('sh+jq', JSON.parse(execFileSync('/bin/sh', ['-c', jq.body], { encoding: 'utf8' })), { name: value });
          const psql = renderOrRefuse(sql, value);
          if (psql) arrived('sh+psql', execFileSync('/bin/sh', ['-c', psql.body], { encoding: 'utf8' }).trim(), Buffer.from(value, 'utf8').toString('hex'));
        }),
        { numRuns: Math.max(10, Math.floor(RUNS / 3)) },
      );
    });
  });
});
