import type { MysqlQuoting } from '@rungate/contracts';
import { checkExploreMysql, lexMysqlTokens, mysqlFingerprint } from './mysql-explore';

const DEFAULT: MysqlQuoting = { noBackslashEscapes: false, ansiQuotes: false };
const NBE: MysqlQuoting = { noBackslashEscapes: true, ansiQuotes: false };
const ANSI: MysqlQuoting = { noBackslashEscapes: false, ansiQuotes: true };

function verdict(sql: string, quoting: MysqlQuoting = DEFAULT): string {
  const check = checkExploreMysql(sql, quoting);
  return check.ok ? `ok ${check.kind}` : check.reason;
}

describe('explore_sql on MySQL: one read-only statement, by a conservative token check', () => {
  it.each([
    ['SELECT * FROM orders WHERE id = 1', 'ok select'],
    ['select o.id, c.name from orders o join customers c on c.id = o.customer where o.status = "stuck" order by o.id desc limit 5', 'ok select'],
    ['WITH late AS (SELECT * FROM orders WHERE due < NOW()) SELECT count(*) FROM late', 'ok select'],
    ['WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT * FROM n', 'ok select'],
    ['(SELECT 1) UNION (SELECT 2)', 'ok select'],
    ['SELECT `update`, `delete` FROM `insert` WHERE `set` = 1', 'ok select'],
    ["SELECT 'DELETE FROM orders; DROP TABLE x; /*! */ SLEEP(9)' AS text", 'ok select'],
    ["SELECT INSERT('abc', 1, 1, 'x'), REPLACE(note, 'a', 'b') FROM orders", 'ok select'],
    ['SELECT CAST(note AS CHAR CHARACTER SET utf8mb4) FROM orders', 'ok select'],
    ['SELECT @@session.sql_mode, @@max_statement_time, @a', 'ok select'],
    ['SELECT 1; -- a comment after the only statement', 'ok select'],
    ['SELECT 1 -- comment ; DELETE FROM orders\n', 'ok select'],
    ['SELECT 1 # comment ; DELETE FROM orders', 'ok select'],
    ['SELECT 1 /* ; DELETE FROM orders */', 'ok select'],
    ['SELECT 5--1', 'ok select'],
    ['SELECT * FROM orders FOR SYSTEM_TIME AS OF TIMESTAMP NOW()', 'ok select'],
    ['SHOW TABLES', 'ok show'],
    ['SHOW CREATE TABLE orders', 'ok show'],
    ['SHOW CREATE PROCEDURE p', 'ok show'],
    ["SHOW VARIABLES LIKE 'max%'", 'ok show'],
    ['SHOW CHARACTER SET', 'ok show'],
    ['SHOW GRANTS FOR CURRENT_USER', 'ok show'],
    ['EXPLAIN SELECT * FROM orders', 'ok explain'],
    ['EXPLAIN FORMAT=JSON SELECT * FROM orders', 'ok explain'],
    ['EXPLAIN EXTENDED SELECT 1', 'ok explain'],
    ['DESCRIBE orders', 'ok explain'],
    ['DESC shop.orders', 'ok explain'],
    ['DESCRIBE orders note', 'ok explain'],
    ["DESCRIBE orders 'no%'", 'ok explain'],
  ])('accepts %s', (sql, expected) => {
    expect(verdict(sql)).toBe(expected);
  });

  it.each([
    ["UPDATE orders SET note = 'x' WHERE id = 1", /starts with UPDATE; explore_sql runs exactly one read-only statement on MySQL/],
    ['DELETE FROM orders', /starts with DELETE/],
    ["INSERT INTO orders VALUES (3, 'x')", /starts with INSERT/],
    ["REPLACE INTO orders VALUES (3, 'x')", /starts with REPLACE/],
    ['SET @a = 1', /starts with SET/],
    ['SET SESSION sql_mode = ""', /starts with SET/],
    ['HANDLER orders OPEN', /starts with HANDLER/],
    ['CALL p()', /starts with CALL/],
    ['DO SLEEP(1)', /starts with DO/],
    ['START TRANSACTION READ WRITE', /starts with START/],
    ['COMMIT', /starts with COMMIT/],
    ['TRUNCATE orders', /starts with TRUNCATE/],
    ['LOAD DATA INFILE "/etc/passwd" INTO TABLE orders', /starts with LOAD/],
    ['ANALYZE SELECT 1', /starts with ANALYZE/],
    ['PREPARE s FROM "DELETE FROM orders"', /starts with PREPARE/],
    ['', /there is no statement to run/],
    [' ; ; ', /there is no statement to run/],
    ['-- only a comment', /there is no statement to run/],
    ['SELECT 1; DELETE FROM orders', /2 statements were sent/],
    ['SELECT 1; SELECT 2', /2 statements were sent/],
    ['WITH gone AS (SELECT 1) DELETE FROM orders', /contains DELETE: DELETE writes/],
    ['WITH x AS (SELECT 1) UPDATE orders SET note = 1', /contains UPDATE/],
    ["SELECT * FROM orders INTO OUTFILE '/tmp/x'", /contains INTO: SELECT … INTO writes a file/],
    ["SELECT * INTO DUMPFILE '/tmp/x' FROM orders", /contains INTO/],
    ['SELECT id INTO @v FROM orders LIMIT 1', /contains INTO/],
    ["SELECT LOAD_FILE('/etc/passwd')", /function LOAD_FILE reads a file on the server/],
    ["SELECT load_file ('/etc/passwd')", /function LOAD_FILE/],
    ["SELECT `load_file`('/etc/passwd')", /function LOAD_FILE/],
    ["SELECT mysql.load_file('/etc/passwd')", /function LOAD_FILE/],
    ["SELECT GET_LOCK('x', 10)", /function GET_LOCK takes a named lock/],
    ["SELECT RELEASE_LOCK('x')", /function RELEASE_LOCK/],
    ['SELECT SLEEP(10)', /function SLEEP/],
    ['SELECT * FROM orders WHERE SLEEP(1) = 0', /function SLEEP/],
    ["SELECT BENCHMARK(100000000, SHA2('x', 512))", /function BENCHMARK/],
    ['SELECT NEXTVAL(s)', /function NEXTVAL advances a sequence/],
    ['SELECT NEXT VALUE FOR s', /NEXT VALUE FOR advances a sequence/],
    ["SELECT sys_exec('id')", /function SYS_EXEC runs a command/],
    ['SELECT * FROM orders FOR UPDATE', /FOR UPDATE takes row locks/],
    ['SELECT * FROM orders FOR SHARE', /FOR SHARE takes row locks/],
    ['SELECT * FROM orders LOCK IN SHARE MODE', /contains LOCK/],
    ['SELECT @a := 1', /":=" assigns a user variable/],
    ['SELECT id, @n := @n + 1 FROM orders', /":="/],
    ['SELECT * FROM orders PROCEDURE ANALYSE()', /contains PROCEDURE/],
    ['EXPLAIN DELETE FROM orders', /EXPLAIN or DESCRIBE here explains only a read/],
    ['EXPLAIN UPDATE orders SET note = 1', /explains only a read/],
    ['EXPLAIN ANALYZE SELECT 1', /explains only a read/],
    ['EXPLAIN FOR CONNECTION 12', /EXPLAIN FOR CONNECTION reads another session/],
    ['EXPLAIN FORMAT=XML SELECT 1', /EXPLAIN FORMAT takes TRADITIONAL, JSON or TREE/],
    ['DESCRIBE orders note extra', /explains only a read \(SELECT, WITH … SELECT\) or describes a table/],
    ['SHOW TABLES WHERE LOAD_FILE("/etc/passwd") IS NOT NULL', /function LOAD_FILE/],
    ['SHOW TABLES; DROP TABLE orders', /2 statements were sent/],
  ])('refuses %s', (sql, message) => {
    expect(verdict(sql)).toMatch(message);
  });

  describe('evasion: refused words cannot hide in comments, quotes or executable comments', () => {
    it.each([
      ['SELECT 1 /*! ; DELETE FROM orders */', /executable comment/],
      ['SELECT 1 /*!50000 , SLEEP(10) */', /executable comment/],
      ['SELECT 1 /*M!100000 INTO OUTFILE "/tmp/x" */', /executable comment/],
      ['SELECT 1 /*m! INTO OUTFILE "/tmp/x" */', /executable comment/],
      ['/*!*/ DELETE FROM orders', /executable comment/],
      ['SELECT /*+ MAX_EXECUTION_TIME(100000000) */ * FROM orders', /optimizer hint/],
      ["SELECT /*+ SET_VAR(sql_mode='') */ 1", /optimizer hint/],
      ['SELECT 1 /* never ends', /a \/\* comment that never ends/],
      ["SELECT 'never ends", /a string that never ends/],
      ['SELECT `never ends', /a quoted identifier that never ends/],
      ['/* SELECT */ DELETE FROM orders', /starts with DELETE/],
      ['-- SELECT\nDELETE FROM orders', /starts with DELETE/],
      ['# SELECT\nUPDATE orders SET note = 1', /starts with UPDATE/],
      // "--" without a space is not a comment in MySQL: what follows is SQL.
      ['SELECT 1 --; DELETE FROM orders', /2 statements were sent/],
      ["SELECT 'a' '; DELETE FROM orders; '", 'ok select'],
      ["SELECT 'it''s'; DELETE FROM orders", /2 statements were sent/],
      ['SELECT "a"; DELETE FROM orders', /2 statements were sent/],
      ['SELECT `a;b` FROM `x``; DELETE FROM orders; ``y`', 'ok select'],
      ['SELECT 1 FROM orders WHERE note = "/*!" OR note = "*/"', 'ok select'],
      ["SELECT 'x' /* ' */ ; DELETE FROM orders", /2 statements were sent/],
      ['SELECT `sleep`(5)', /function SLEEP/],
      ['SeLeCt SlEeP(5)', /function SLEEP/],
      ['SELECT @`x` := 1', /":="/],
      ['SELECT 1 FROM orders\u00a0WHERE SLEEP(1)', /function SLEEP/],
    ])('%s', (sql, expected) => {
      const result = verdict(sql);
      if (typeof expected === 'string') expect(result).toBe(expected);
      else expect(result).toMatch(expected);
    });

    it('refuses a NUL character, which servers read differently', () => {
      expect(verdict(`SELECT 1${String.fromCharCode(0)}; DELETE FROM orders`)).toMatch(/a NUL character/);
    });

    it('reads backslashes as the connection pins them: an escaped quote under one sql_mode ends the string under the other', () => {
      const sql = "SELECT 'a\\'; DELETE FROM orders; -- '";
      // Backslash escapes on: one string, one statement.
      expect(verdict(sql, DEFAULT)).toBe('ok select');
      // NO_BACKSLASH_ESCAPES: the string ends at \', and DELETE is a second statement.
      expect(verdict(sql, NBE)).toMatch(/2 statements were sent/);
      const hidden = "SELECT 'a\\', SLEEP(5) -- '";
      expect(verdict(hidden, DEFAULT)).toBe('ok select');
      expect(verdict(hidden, NBE)).toMatch(/function SLEEP/);
    });

    it('reads "…" as a string, or as an identifier under ANSI_QUOTES (where a backslash escapes nothing)', () => {
      expect(verdict('SELECT "sleep"(1)', DEFAULT)).toBe('ok select');
      expect(verdict('SELECT "sleep"(1)', ANSI)).toMatch(/function SLEEP/);
      const sql = 'SELECT "a\\"; DELETE FROM orders; -- "';
      expect(verdict(sql, DEFAULT)).toBe('ok select');
      expect(verdict(sql, ANSI)).toMatch(/2 statements were sent/);
    });
  });

  it('lexes strings, identifiers and variables as the server does', () => {
    const lexed = lexMysqlTokens("SELECT 'it''s \\n', `a``b`, @@session.x, @'u v' FROM t -- c", DEFAULT);
    if (!lexed.ok) throw new Error(lexed.problem);
    expect(lexed.tokens).toEqual([
      { kind: 'word', text: 'SELECT' },
      { kind: 'string', text: "it's n" },
      { kind: 'symbol', text: ',' },
      { kind: 'identifier', text: 'a`b' },
      { kind: 'symbol', text: ',' },
      { kind: 'variable', text: '@@session.x' },
      { kind: 'symbol', text: ',' },
      { kind: 'variable', text: "@'u v'" },
      { kind: 'word', text: 'FROM' },
      { kind: 'word', text: 'T' },
    ]);
  });

  it('fingerprints statements that differ only in constants alike', () => {
    const a = mysqlFingerprint("SELECT * FROM orders WHERE id = 1 AND note = 'x'", DEFAULT);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(mysqlFingerprint("select *  from orders where id = 42 and note = 'other' -- why", DEFAULT)).toBe(a);
    expect(mysqlFingerprint('SELECT * FROM customers WHERE id = 1', DEFAULT)).not.toBe(a);
    expect(mysqlFingerprint("SELECT 'open", DEFAULT)).toBeUndefined();
  });
});
