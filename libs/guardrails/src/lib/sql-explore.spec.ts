import { checkExploreSql, isRefusedFunction } from './sql-explore';
import { loadSqlParser, type SqlParser } from './sql-parser';

let parser: SqlParser;
beforeAll(async () => {
  parser = await loadSqlParser();
});

function verdict(sql: string): string {
  const check = checkExploreSql(parser.parse(sql));
  return check.ok ? `ok ${check.kind}` : check.reason;
}

describe('explore_sql: one read-only statement, as PostgreSQL parses it', () => {
  it.each([
    ['SELECT * FROM orders WHERE id = 1', 'ok select'],
    ['select o.id, c.name from orders o join customers c on c.id = o.customer where o.status = $$stuck$$', 'ok select'],
    ['WITH late AS (SELECT * FROM orders WHERE due < now()) SELECT count(*) FROM late', 'ok select'],
    ['WITH RECURSIVE n(i) AS (VALUES (1) UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT * FROM n', 'ok select'],
    ['VALUES (1), (2)', 'ok select'],
    ['TABLE orders', 'ok select'],
    ['EXPLAIN SELECT * FROM orders', 'ok explain'],
    ['EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM orders', 'ok explain'],
    ['EXPLAIN DELETE FROM orders', 'ok explain'],
    ['EXPLAIN (ANALYZE false) UPDATE orders SET status = 1', 'ok explain'],
    ['SHOW work_mem', 'ok show'],
    ['SELECT pg_sleep(1)', 'ok select'],
    ['SELECT 1; -- a comment after the only statement', 'ok select'],
    ["SELECT 'DELETE FROM orders; DROP TABLE x' AS text", 'ok select'],
  ])('accepts %s', (sql, expected) => {
    expect(verdict(sql)).toBe(expected);
  });

  it.each([
    ['UPDATE orders SET status = 1 WHERE id = 1', /statement is UPDATE; explore_sql runs exactly one read-only statement/],
    ['DELETE FROM orders', /is DELETE/],
    ['INSERT INTO orders VALUES (1) RETURNING *', /is INSERT/],
    ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE', /is MERGE/],
    ['WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone', /contains DELETE \(a data-modifying WITH\)/],
    ['WITH x AS (SELECT 1), y AS (UPDATE t SET a = 1 RETURNING a) SELECT * FROM x, y', /contains UPDATE/],
    ['SELECT 1; SELECT 2', /2 statements were sent/],
    ['SELECT 1; DELETE FROM orders', /2 statements were sent/],
    ['SELECT 1 /* ; */ ; DROP TABLE orders -- ;', /2 statements were sent/],
    ["SELECT $q$ ' $q$; DELETE FROM orders", /2 statements were sent/],
    ['', /there is no statement/],
    ['-- only a comment', /there is no statement/],
    ['COPY orders TO STDOUT', /is COPY/],
    ["COPY (SELECT 1) TO PROGRAM 'touch /tmp/x'", /is COPY/],
    ['SET ROLE postgres', /is SET\/RESET/],
    ["SET LOCAL statement_timeout = '1h'", /is SET\/RESET/],
    ['RESET ALL', /is SET\/RESET/],
    ['BEGIN', /is transaction control/],
    ['COMMIT', /is transaction control/],
    ['SET TRANSACTION READ WRITE', /is SET\/RESET/],
    ['EXPLAIN ANALYZE DELETE FROM orders', /EXPLAIN ANALYZE runs the statement it explains, and this one writes \(DELETE\)/],
    ['EXPLAIN (ANALYZE) WITH g AS (DELETE FROM t RETURNING 1) SELECT * FROM g', /EXPLAIN ANALYZE runs the statement/],
    ['EXPLAIN CREATE TABLE x AS SELECT 1', /EXPLAIN of CREATE/],
    ['SELECT * FROM orders FOR UPDATE', /FOR UPDATE \/ FOR SHARE takes row locks/],
    ['SELECT * FROM orders FOR SHARE SKIP LOCKED', /row locks/],
    ['SELECT * INTO copy FROM orders', /is CREATE/],
    ['CREATE TABLE x (a int)', /is CREATE/],
    ['DO $$BEGIN DELETE FROM orders; END$$', /is DO/],
    ['CALL purge()', /is CALL/],
    ["PREPARE p AS DELETE FROM orders", /is PREPARE/],
    ['LOCK orders', /is LOCK/],
    ['NOTIFY ch', /is NOTIFY/],
    ['LISTEN ch', /is LISTEN/],
    ['VACUUM orders', /is VACUUM/],
    ['DECLARE c CURSOR FOR SELECT 1', /is a cursor statement/],
    ["SELECT pg_read_file('/etc/passwd')", /function pg_read_file reads or changes something outside/],
    ["SELECT pg_catalog.pg_read_binary_file('/etc/passwd')", /function pg_read_binary_file/],
    ["SELECT \"pg_read_file\"('/etc/passwd')", /function pg_read_file/],
    ["SELECT PG_LS_DIR('.')", /function pg_ls_dir/],
    ["SELECT lo_import('/etc/passwd')", /function lo_import/],
    ["SELECT lo_export(1, '/tmp/x')", /function lo_export/],
    ["SELECT * FROM dblink('host=x', 'DELETE FROM t') AS t(a int)", /function dblink/],
    ["SELECT set_config('transaction_read_only', 'off', true)", /function set_config/],
    ["SELECT query_to_xml('DELETE FROM orders RETURNING *', true, false, '')", /function query_to_xml/],
    ['SELECT pg_terminate_backend(42)', /function pg_terminate_backend/],
    ['SELECT pg_advisory_lock(1)', /function pg_advisory_lock/],
    ["SELECT nextval('orders_id_seq')", /function nextval/],
    ["SELECT x FROM (SELECT pg_read_file('/etc/passwd') AS x) s WHERE true", /function pg_read_file/],
    ['SELECT * FROM orders WHERE id IN (SELECT pg_cancel_backend(pid) FROM pg_stat_activity)', /function pg_cancel_backend/],
    ['SELEC 1', /does not parse as PostgreSQL \(syntax error at line 1, column 1\)/],
  ])('refuses %s', (sql, reason) => {
    expect(verdict(sql)).toMatch(reason);
  });

  it('names refused functions by family, whatever their case', () => {
    expect(['pg_read_file', 'PG_READ_FILE', 'lo_unlink', 'dblink_exec', 'pg_logical_emit_message', 'pg_create_restore_point'].every(isRefusedFunction)).toBe(true);
    expect(['count', 'now', 'pg_sleep', 'current_setting', 'pg_size_pretty', 'lower', 'pg_get_viewdef'].some(isRefusedFunction)).toBe(false);
  });
});

describe('fingerprints', () => {
  it('are equal for statements that differ only in constants and spacing, and differ otherwise', () => {
    const a = parser.fingerprint("SELECT * FROM orders WHERE status = 'stuck' AND id > 42");
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(parser.fingerprint("select *\n  from orders where status='late' and id>7 -- again")).toBe(a);
    expect(parser.fingerprint("SELECT * FROM orders WHERE status = 'stuck' AND id < 42")).not.toBe(a);
    expect(parser.fingerprint('SELEC 1')).toBeUndefined();
  });
});
