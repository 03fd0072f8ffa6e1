import { mysqlStatements } from './mysql-statements';

const DEFAULT = { noBackslashEscapes: false, ansiQuotes: false };
const kinds = (sql: string, quoting = DEFAULT) => mysqlStatements(sql, quoting).map((s) => `${s.command}:${s.kind}`);

describe('MySQL statements of a body', () => {
  it('splits where MySQL does, skipping comments, strings and quoted identifiers', () => {
    expect(kinds(`SELECT ';' AS a, "x;y", \`c;d\` FROM t; # COMMIT;\n-- COMMIT;\nUPDATE t SET a = 1 /* ; COMMIT */`)).toEqual(['SELECT:ordinary', 'UPDATE:ordinary']);
    // `--` before a non-space is minus minus, not a comment: the COMMIT after it is a statement.
    expect(kinds(`SELECT 1--1; COMMIT`)).toEqual(['SELECT:ordinary', 'COMMIT:transaction-control']);
  });

  it('reads backslash escapes as the pinned sql_mode does', () => {
    const body = `SELECT 'a\\'; COMMIT; SELECT 1'`;
    expect(kinds(body)).toEqual(['SELECT:ordinary']);
    expect(kinds(body, { noBackslashEscapes: true, ansiQuotes: false })).toEqual(['SELECT:ordinary', 'COMMIT:transaction-control', 'SELECT:ordinary']);
  });

  it('finds transaction control, but allows savepoints', () => {
    expect(kinds('BEGIN; START TRANSACTION; COMMIT; ROLLBACK; XA START 1; SET autocommit = 1; LOCK TABLES t WRITE; UNLOCK TABLES')).toEqual([
      'BEGIN:transaction-control',
      'START:transaction-control',
      'COMMIT:transaction-control',
      'ROLLBACK:transaction-control',
      'XA:transaction-control',
      'SET:transaction-control',
      'LOCK TABLES:transaction-control',
      'UNLOCK TABLES:transaction-control',
    ]);
    expect(kinds('SAVEPOINT s; ROLLBACK TO SAVEPOINT s; ROLLBACK WORK TO s; RELEASE SAVEPOINT s')).toEqual(['SAVEPOINT:ordinary', 'ROLLBACK:ordinary', 'ROLLBACK:ordinary', 'RELEASE:ordinary']);
  });

  it('finds session pins, also inside executable comments', () => {
    for (const body of ["SET NAMES 'gbk'", 'SET CHARACTER SET gbk', "SET @@session.sql_mode = ''", "SET SESSION character_set_client = 'sjis'", '/*!40101 SET NAMES gbk */', "SET time_zone = '+01:00'", 'SET STATEMENT sql_mode = "" FOR SELECT 1']) {
      expect(mysqlStatements(body, DEFAULT)[0]?.kind).toBe('session-pin');
    }
    expect(kinds("SET @x = 'sql_mode'; SET @names = 1")).toEqual(['SET:ordinary', 'SET:ordinary']);
  });

  it('finds statements that commit implicitly, but not temporary tables', () => {
    expect(kinds('CREATE TABLE t (x int); ALTER TABLE t ADD y int; DROP INDEX i ON t; TRUNCATE TABLE t; RENAME TABLE a TO b; GRANT SELECT ON *.* TO u; ANALYZE TABLE t')).toEqual([
      'CREATE TABLE:implicit-commit',
      'ALTER TABLE:implicit-commit',
      'DROP INDEX:implicit-commit',
      'TRUNCATE TABLE:implicit-commit',
      'RENAME TABLE:implicit-commit',
      'GRANT:implicit-commit',
      'ANALYZE:implicit-commit',
    ]);
    expect(kinds('CREATE TEMPORARY TABLE s (x int); DROP TEMPORARY TABLE s')).toEqual(['CREATE TEMPORARY TABLE:ordinary', 'DROP TEMPORARY TABLE:ordinary']);
  });

  it('keeps a stored program with its BEGIN … END body one statement', () => {
    const body = `CREATE PROCEDURE p() BEGIN DECLARE x INT; IF x THEN SELECT CASE WHEN 1 THEN 2 END; END IF; BEGIN SELECT 1; END; END; SELECT 2`;
    expect(kinds(body)).toEqual(['CREATE PROCEDURE:implicit-commit', 'SELECT:ordinary']);
  });
});
