import type { GuardrailMatch } from '@rungate/config';
import { sqlMatcher } from './sql-match';
import { loadSqlParser, type SqlParser } from './sql-parser';
import { summarizeStatements } from './sql-statements';

let parser: SqlParser;
beforeAll(async () => {
  parser = await loadSqlParser();
});

function check(sql: NonNullable<GuardrailMatch['sql']>, body: string): string | undefined {
  return sqlMatcher(sql)(parser.parse(body))?.detail;
}

function kinds(body: string): { kind: string; contains: string[] }[] {
  const parsed = parser.parse(body);
  if (!parsed.ok) throw new Error(parsed.problem);
  return summarizeStatements(parsed.statements).map(({ kind, contains }) => ({ kind, contains }));
}

describe('statement kinds, as PostgreSQL parses them', () => {
  it.each([
    ['SELECT * FROM t', 'select'],
    ['VALUES (1), (2)', 'select'],
    ['TABLE t', 'select'],
    ['SELECT 1 INTO new_table', 'create'],
    ['INSERT INTO t VALUES (1)', 'insert'],
    ['UPDATE t SET a = 1 WHERE id = 2', 'update'],
    ['DELETE FROM t WHERE id = 2', 'delete'],
    ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE', 'merge'],
    ['CREATE TABLE a (x int)', 'create'],
    ['CREATE INDEX ON t (a)', 'create'],
    ['CREATE OR REPLACE VIEW v AS SELECT 1', 'create'],
    ['ALTER TABLE t ADD COLUMN b int', 'alter'],
    ['ALTER TABLE t RENAME TO u', 'alter'],
    ['ALTER SYSTEM SET work_mem = 1', 'alter'],
    ['DROP TABLE t', 'drop'],
    ['DROP DATABASE d', 'drop'],
    ['TRUNCATE t', 'truncate'],
    ["COMMENT ON TABLE t IS 'x'", 'comment'],
    ['GRANT SELECT ON t TO bob', 'grant'],
    ['REVOKE SELECT ON t FROM bob', 'revoke'],
    ['GRANT admin TO bob', 'grant'],
    ['ALTER DEFAULT PRIVILEGES REVOKE SELECT ON TABLES FROM bob', 'revoke'],
    ['CREATE ROLE bob', 'role'],
    ['BEGIN', 'transaction'],
    ['COMMIT', 'transaction'],
    ["PREPARE TRANSACTION 'x'", 'transaction'],
    ['SET search_path = evil', 'set'],
    ['RESET ALL', 'set'],
    ['SET CONSTRAINTS ALL DEFERRED', 'set'],
    ['SHOW work_mem', 'show'],
    ['DISCARD ALL', 'discard'],
    ['LISTEN x', 'listen'],
    ["NOTIFY x, 'y'", 'notify'],
    ['COPY t TO STDOUT', 'copy'],
    ["COPY t FROM PROGRAM 'id'", 'copy'],
    ['EXPLAIN SELECT 1', 'explain'],
    ['DO $$ BEGIN NULL; END $$', 'do'],
    ['CALL p()', 'call'],
    ['PREPARE q AS SELECT 1', 'prepare'],
    ['EXECUTE q', 'execute'],
    ['DEALLOCATE q', 'deallocate'],
    ['DECLARE c CURSOR FOR SELECT 1', 'cursor'],
    ['LOCK TABLE t', 'lock'],
    ['VACUUM t', 'vacuum'],
    ['ANALYZE t', 'analyze'],
    ['REINDEX TABLE t', 'reindex'],
    ['REFRESH MATERIALIZED VIEW m', 'refresh'],
    ['CHECKPOINT', 'checkpoint'],
    ["LOAD 'x'", 'load'],
  ])('%s is %s', (body, kind) => {
    expect(kinds(body)[0]?.kind).toBe(kind);
  });

  it('sees the statements inside others: EXPLAIN ANALYZE, data-modifying WITH, PREPARE, COPY, rules; not plain subqueries', () => {
    expect(kinds('EXPLAIN ANALYZE DELETE FROM t')).toEqual([{ kind: 'explain', contains: ['delete'] }]);
    expect(kinds('WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone')).toEqual([{ kind: 'select', contains: ['delete'] }]);
    expect(kinds('PREPARE q AS UPDATE t SET a = 1')).toEqual([{ kind: 'prepare', contains: ['update'] }]);
    expect(kinds('COPY (DELETE FROM t RETURNING *) TO STDOUT')).toEqual([{ kind: 'copy', contains: ['delete'] }]);
    expect(kinds('CREATE RULE r AS ON INSERT TO t DO INSTEAD DELETE FROM u')).toEqual([{ kind: 'create', contains: ['delete'] }]);
    expect(kinds('SELECT * FROM t WHERE id IN (SELECT id FROM u)')).toEqual([{ kind: 'select', contains: [] }]);
  });
});

describe('a SQL guardrail', () => {
  it('allows only the listed kinds (an allow-list), wherever a statement stands', () => {
    const selectOnly = { statements: ['select' as const] };
    expect(check(selectOnly, 'SELECT 1; SELECT 2')).toBeUndefined();
    expect(check(selectOnly, 'SELECT 1;\nDELETE FROM t WHERE id = 1')).toBe('statement 2 (line 2) is DELETE, not one of: select');
    expect(check(selectOnly, 'WITH x AS (UPDATE t SET a = 1 WHERE id = 1 RETURNING *) SELECT * FROM x')).toBe(
      'statement 1 (line 1) contains UPDATE, not one of: select',
    );
    expect(check(selectOnly, 'SELECT 1 INTO copy_of_t')).toBe('statement 1 (line 1) is CREATE, not one of: select');
    // Code the parser cannot see into is not a SELECT.
    expect(check(selectOnly, 'DO $$ BEGIN DELETE FROM t; END $$')).toBe('statement 1 (line 1) is DO, not one of: select');
  });

  it('forbids kinds and families: no DDL, not even hidden behind EXPLAIN ANALYZE', () => {
    const noDdl = { forbid: ['ddl' as const] };
    expect(check(noDdl, 'UPDATE t SET a = 1 WHERE id = 2')).toBeUndefined();
    expect(check(noDdl, '/* harmless */ DrOp TaBlE "t"')).toBe('statement 1 (line 1) is DROP, which is forbidden (ddl)');
    expect(check(noDdl, 'TRUNCATE t')).toBe('statement 1 (line 1) is TRUNCATE, which is forbidden (ddl)');
    expect(check(noDdl, 'EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1')).toBe('statement 1 (line 1) contains CREATE, which is forbidden (ddl)');
    expect(check({ forbid: ['transaction', 'set'] }, "SELECT 1; SET ROLE 'admin'")).toBe('statement 2 (line 1) is SET/RESET, which is forbidden (transaction, set)');
  });

  it('limits the number of statements', () => {
    expect(check({ maxStatements: 1 }, 'SELECT 1;')).toBeUndefined();
    expect(check({ maxStatements: 1 }, 'SELECT 1; SELECT 2;')).toBe('the body has 2 statements, more than 1');
    expect(check({ maxStatements: 1 }, '-- nothing but a comment')).toBeUndefined();
  });

  describe('requireWhere', () => {
    const requireWhere = { requireWhere: true };

    it.each([
      'DELETE FROM t',
      'DELETE /* where */ FROM t -- WHERE id = 1',
      "DELETE FROM t RETURNING 'WHERE id = 1'",
      'DELETE FROM t RETURNING $$ WHERE id = 1 $$',
      'DELETE FROM t RETURNING $where$ WHERE id = 1 $where$',
      'DELETE FROM "t" AS "WHERE"',
      "UPDATE t SET note = ' WHERE id = 1'",
      'UPDATE t SET note = E\'\\\' WHERE id = 1\'',
      'WITH gone AS (DELETE FROM t RETURNING *) SELECT count(*) FROM gone',
      'EXPLAIN ANALYZE DELETE FROM t',
      'PREPARE wipe AS DELETE FROM t',
    ])('finds no WHERE in %s, whatever the comments and quotes say', (body) => {
      expect(check(requireWhere, body)).toMatch(/(DELETE|UPDATE) without a WHERE clause would change every row$/);
    });

    it.each([
      'DELETE FROM t WHERE true',
      'DELETE FROM t WHERE 1 = 1',
      "DELETE FROM t WHERE 'a' = 'a'",
      'DELETE FROM t WHERE NOT false',
      "DELETE FROM t WHERE now() > '2000-01-01'",
      'DELETE FROM t WHERE id = 5 OR TRUE',
      'DELETE FROM t WHERE EXISTS (SELECT 1 FROM other WHERE other.flag)',
      'UPDATE t SET a = 1 FROM u WHERE u.id = 3',
      'MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE',
      'MERGE INTO t USING s ON s.id = 5 WHEN MATCHED THEN DELETE',
    ])('refuses the constant condition in %s', (body) => {
      expect(check(requireWhere, body)).toMatch(/whose (WHERE|ON condition) does not depend on the rows \(like WHERE true\) would change every row$/);
    });

    it.each([
      'DELETE FROM t WHERE id = 5',
      'DELETE FROM t WHERE true AND id = 5',
      'DELETE FROM t WHERE id = 5 OR id = 6',
      'DELETE FROM t WHERE NOT (id = 5)',
      'DELETE FROM t x WHERE x.id = 5',
      'DELETE FROM t WHERE EXISTS (SELECT 1 FROM other o WHERE o.t_id = t.id)',
      'DELETE FROM t WHERE id IN (SELECT t_id FROM other)',
      'DELETE FROM t WHERE CURRENT OF c',
      'UPDATE t SET a = 1 FROM u WHERE u.id = t.u_id',
      'MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE',
      'INSERT INTO t SELECT * FROM u',
      'SELECT * FROM t',
    ])('accepts %s', (body) => {
      expect(check(requireWhere, body)).toBeUndefined();
    });
  });

  it('refuses a body the parser cannot read, saying where without quoting it', () => {
    const violation = sqlMatcher({ forbid: ['drop'] })(parser.parse('SELECT 1;\nDELETE FRM secret_table'));
    expect(violation).toEqual({
      detail: 'the body does not parse as PostgreSQL (syntax error at line 2, column 8), so its statements cannot be checked',
      unreadable: true,
    });
    expect(parser.parse("SELECT 'é' FRM t")).toEqual({ ok: false, problem: 'syntax error at line 1, column 16' });
  });

  it('reports statement lines in characters, whatever the bytes before them', () => {
    expect(check({ forbid: ['drop'] }, "SELECT 'ééé';\n\nDROP TABLE t")).toBe('statement 2 (line 3) is DROP, which is forbidden (drop)');
  });
});
