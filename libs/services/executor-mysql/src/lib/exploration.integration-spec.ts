import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionConfig, type MysqlConnectionConfig } from '@rungate/config';
import { mysqlSchemaQuery } from '@rungate/exploration';
import { checkExploreMysql } from '@rungate/guardrails';
import { TEST_MYSQL_URL } from '@rungate/testing';
import fc from 'fast-check';
import { createConnection } from 'mysql2/promise';
import { MysqlTargets } from './mysql-targets';
import { DEFAULT_QUOTING, ExecutorHarness } from '../testing/executor-harness';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * executor-mysql runs explorations read-only from the ticket's explore claim alone (ADR 19):
 * these tests sign exploration tickets themselves, so policy's MySQL check never saw the
 * statements. `app-db` logs in with every privilege on its database, so what is refused there
 * is refused by the executor and by `START TRANSACTION READ ONLY`; `ro-db` logs in as the
 * read-only account README: Exploration recommends (SELECT and SHOW VIEW on `orders`).
 */
describe('executor-mysql: explorations are read-only whatever they ask', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await ExecutorHarness.create('explore');
    await h.query(`
      CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, status varchar(20) NOT NULL, customer varchar(50) NOT NULL, email varchar(100) NOT NULL, amount decimal(10, 2) NOT NULL) ENGINE=InnoDB;
      INSERT INTO orders (status, customer, email, amount) SELECT IF(seq % 3 = 0, 'stuck', 'shipped'), CONCAT('c', seq), CONCAT('c', seq, '@example.com'), seq * 1.5 FROM seq_1_to_120;
      CREATE TABLE secrets (id int PRIMARY KEY, token varchar(50) NOT NULL) ENGINE=InnoDB;
      INSERT INTO secrets VALUES (1, 'do-not-read');
      CREATE TABLE write_log (op varchar(20) NOT NULL) ENGINE=InnoDB;
      CREATE TRIGGER orders_insert AFTER INSERT ON orders FOR EACH ROW INSERT INTO write_log VALUES ('insert');
      CREATE TRIGGER orders_update AFTER UPDATE ON orders FOR EACH ROW INSERT INTO write_log VALUES ('update');
      CREATE TRIGGER orders_delete AFTER DELETE ON orders FOR EACH ROW INSERT INTO write_log VALUES ('delete');
      CREATE SEQUENCE order_numbers;
      CREATE FUNCTION bump() RETURNS int MODIFIES SQL DATA BEGIN INSERT INTO write_log VALUES ('bump'); RETURN 1; END;`);
    await h.grantReadOnly(['orders']);
    await h.startReplica();
  });

  afterAll(async () => {
    await h?.close();
  });

  const tag = () => `/* ${randomUUID()} */`;
  const onAppDb = { connection: { name: 'app-db', type: 'mysql' as const } };
  const onReadOnly = { connection: { name: 'ro-db', type: 'mysql' as const } };

  /** Everything a write could change: every table's rows, the write log, the sequence, the schema's tables and routines, this file's accounts and their privileges. */
  async function state(): Promise<string> {
    const [row] = await h.query<{ state: string }[]>(`
      SELECT CONCAT_WS('|',
        (SELECT MD5(GROUP_CONCAT(CONCAT_WS(':', id, status, customer, email, amount) ORDER BY id)) FROM orders),
        (SELECT MD5(GROUP_CONCAT(CONCAT_WS(':', id, token) ORDER BY id)) FROM secrets),
        (SELECT COUNT(*) FROM write_log),
        (SELECT next_not_cached_value FROM order_numbers),
        (SELECT MD5(GROUP_CONCAT(CONCAT(table_name, ':', table_type) ORDER BY table_name)) FROM information_schema.tables WHERE table_schema = DATABASE()),
        (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = DATABASE()),
        (SELECT MD5(GROUP_CONCAT(CONCAT(User, '@', Host, ':', Priv) ORDER BY User)) FROM mysql.global_priv WHERE User LIKE '${h.db.user}%'),
        (SELECT MD5(GROUP_CONCAT(CONCAT_WS(':', User, Host, Select_priv, Insert_priv, Update_priv, Delete_priv, Create_priv, Drop_priv, Grant_priv, Execute_priv) ORDER BY User)) FROM mysql.db WHERE Db = DATABASE()),
        (SELECT COUNT(*) FROM mysql.tables_priv WHERE Db = DATABASE())) AS state`);
    return row?.state ?? '';
  }

  it('runs a SELECT in a READ ONLY transaction, capped by the ticket, and rolls it back', async () => {
    const before = await state();
    const result = await h.exec(h.signExploration(`SELECT id, status FROM orders ORDER BY id ${tag()}`, { ...onAppDb, limits: { timeoutMs: 5000, maxRows: 10, maxBytes: 1024 * 1024 } }));
    expect(result.status).toBe('succeeded');
    expect(result.output).toMatchObject({ kind: 'sql', rowCount: 120, truncated: true, statements: [{ command: 'SELECT', rowCount: 120 }] });
    if (result.output.kind !== 'sql') throw new Error('sql output');
    expect(result.output.rows).toHaveLength(10);
    expect(result.output.rows[0]).toEqual({ id: 1, status: 'shipped' });
    expect(await state()).toBe(before);
  });

  it('caps rows by the connection too, and masks what it returns', async () => {
    const small = await h.exec(h.signExploration(`SELECT id FROM orders ${tag()}`, { connection: { name: 'small-db', type: 'mysql' }, limits: { timeoutMs: 5000, maxRows: 10_000, maxBytes: 1024 * 1024 } }));
    expect(small.output.kind === 'sql' && small.output.rows.length).toBe(3);
    const masked = await h.exec(h.signExploration(`SELECT id, email FROM orders WHERE id = 2 ${tag()}`, { ...onReadOnly, masking: h.maskingClaim('pii') }));
    expect(masked.output).toMatchObject({ rows: [{ id: 2, email: expect.not.stringContaining('c2@example.com') }] });
  });

  describe('refused by the executor itself, before anything reaches the server', () => {
    it.each([
      ["UPDATE orders SET status = 'lost' WHERE id = 1", /this one starts with UPDATE\. Nothing was executed/],
      ['DELETE FROM orders', /starts with DELETE/],
      ["INSERT INTO orders (status, customer, email, amount) VALUES ('x', 'y', 'z', 1)", /starts with INSERT/],
      ["REPLACE INTO secrets VALUES (1, 'x')", /starts with REPLACE/],
      ['/*! DELETE FROM orders */', /starts with DELETE/],
      ['/*M!100000 DELETE FROM orders */', /starts with DELETE/],
      ['-- SELECT\nDELETE FROM orders', /starts with DELETE/],
      ['# SELECT\nTRUNCATE write_log', /starts with TRUNCATE/],
      ['SET autocommit = 1', /starts with SET/],
      ['CREATE TEMPORARY TABLE scratch (a int)', /starts with CREATE TEMPORARY TABLE/],
      ['CALL nothing()', /starts with CALL/],
      ['DO bump()', /starts with DO/],
      ['HANDLER orders OPEN', /starts with HANDLER/],
      ['COMMIT', /starts with COMMIT/],
      ["LOAD DATA INFILE '/etc/hostname' INTO TABLE write_log", /starts with LOAD/],
      ['SELECT 1; DELETE FROM orders', /this is 2 statements/],
      ['SELECT 1 /* ; */ ; DROP TABLE orders -- ;', /this is 2 statements/],
      ["SELECT 'it''s'; UPDATE orders SET status = 'x'", /this is 2 statements/],
    ])('%s', async (sql, message) => {
      const before = await state();
      const error = await h.refusal(h.signExploration(`${sql} ${tag()}`, onAppDb));
      expect(error.code).toBe('EXPLORATION_REFUSED');
      expect(error.message).toMatch(message);
      expect(await state()).toBe(before);
    });

    it('reads backslashes as the connection pins them', async () => {
      const sql = `SELECT 'a\\'; DELETE FROM orders; -- ' ${tag()}`;
      const error = await h.refusal(h.signExploration(sql, { connection: { name: 'nbe-db', type: 'mysql' }, mysqlQuoting: { noBackslashEscapes: true, ansiQuotes: false } }));
      expect(error).toMatchObject({ code: 'EXPLORATION_REFUSED', message: expect.stringMatching(/this is 2 statements/) });
      // The same text under backslash escapes is one string, and runs.
      expect((await h.exec(h.signExploration(sql, onAppDb))).status).toBe('succeeded');
    });
  });

  describe('that start like a read and still write: START TRANSACTION READ ONLY refuses them', () => {
    it.each([
      ['SELECT bump()', /explorations run in a read-only transaction: Cannot execute statement in a READ ONLY transaction; nothing was written/],
      ['WITH x AS (SELECT 1 AS one) SELECT bump() FROM x', /READ ONLY transaction/],
      ['SELECT NEXTVAL(order_numbers)', /READ ONLY transaction/],
      ['SELECT NEXT VALUE FOR order_numbers', /READ ONLY transaction/],
      ['SELECT * FROM orders WHERE id = 1 FOR UPDATE', /READ ONLY transaction/],
    ])('%s', async (sql, message) => {
      const before = await state();
      const error = await h.refusal(h.signExploration(`${sql} ${tag()}`, onAppDb));
      expect(error).toMatchObject({ code: 'EXPLORATION_REFUSED', message: expect.stringMatching(message) });
      expect(await state()).toBe(before);
    });
  });

  describe('that a READ ONLY transaction allows: the account, the checker and the executor stop them', () => {
    it('cannot write a file: INTO OUTFILE needs the FILE privilege, which no database account has', async () => {
      const file = join(tmpdir(), `rg-explore-${randomUUID()}`);
      const error = await h.refusal(h.signExploration(`SELECT * FROM orders INTO OUTFILE '${file}' ${tag()}`, onAppDb));
      expect(error.message).toMatch(/Access denied.*\[ER_ACCESS_DENIED_ERROR 1045|Access denied/);
      expect(existsSync(file)).toBe(false);
      expect(checkExploreMysql(`SELECT * FROM orders INTO OUTFILE '${file}'`, DEFAULT_QUOTING)).toMatchObject({ ok: false, reason: expect.stringMatching(/INTO/) });
    });

    it('reads no file: LOAD_FILE answers NULL without FILE', async () => {
      const result = await h.exec(h.signExploration(`SELECT LOAD_FILE('/etc/hostname') AS f ${tag()}`, onAppDb));
      expect(result.output).toMatchObject({ rows: [{ f: null }] });
    });

    it('leaves no named lock behind: the connection is reset before it serves another run', async () => {
      const name = `rg_${randomUUID().slice(0, 8)}`;
      const result = await h.exec(h.signExploration(`SELECT GET_LOCK('${name}', 0) AS got ${tag()}`, onAppDb));
      expect(result.output).toMatchObject({ rows: [{ got: 1 }] });
      expect(await h.query(`SELECT IS_FREE_LOCK('${name}') AS free`)).toEqual([{ free: 1 }]);
    });

    it('the read-only account reads only what it was granted and calls no routine', async () => {
      const denied = await h.refusal(h.signExploration(`SELECT token FROM secrets ${tag()}`, onReadOnly));
      expect(denied.message).toMatch(/SELECT command denied to user/);
      // Without EXECUTE it calls no routine (MariaDB refuses a writing one for the READ ONLY transaction first).
      const routine = await h.refusal(h.signExploration(`SELECT bump() ${tag()}`, onReadOnly));
      expect(routine.message).toMatch(/execute command denied|READ ONLY transaction/i);
      await h.query('CREATE FUNCTION seven() RETURNS int DETERMINISTIC RETURN 7');
      expect((await h.refusal(h.signExploration(`SELECT seven() ${tag()}`, onReadOnly))).message).toMatch(/execute command denied to user/);
      const schema = await h.exec(h.signExploration(`${mysqlSchemaQuery({})} ${tag()}`, onReadOnly, 'explore_schema'));
      expect(schema.output).toMatchObject({ rows: [{ schema: h.db.name, name: 'orders', kind: 'table' }] });
      const columns = await h.exec(h.signExploration(`${mysqlSchemaQuery({ table: 'orders' })} ${tag()}`, onReadOnly, 'explore_schema'));
      if (columns.output.kind !== 'sql') throw new Error('sql output');
      expect(columns.output.rows.map((row) => `${row['part']}:${row['name']}`)).toEqual(['column:id', 'column:status', 'column:customer', 'column:email', 'column:amount', 'index:PRIMARY']);
      expect(columns.output.rows[0]).toMatchObject({ type: 'int(11)', nullable: 0 });
    });
  });

  it("stops a statement at the ticket's time limit", async () => {
    const error = await h.refusal(h.signExploration(`SELECT SLEEP(5) ${tag()}`, { ...onAppDb, limits: { timeoutMs: 300, maxRows: 10, maxBytes: 1024 } }));
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toMatch(/time limit of 300 ms/);
  });

  it('gives up on a lock after a second instead of queueing behind a write', async () => {
    const holder = await createConnection({ uri: TEST_MYSQL_URL, database: h.db.name });
    try {
      await holder.query('LOCK TABLES orders WRITE');
      const error = await h.refusal(h.signExploration(`SELECT count(*) FROM orders ${tag()}`, onAppDb));
      expect(error.message).toMatch(/Lock wait timeout exceeded.*an exploration waits for a lock only briefly/);
    } finally {
      await holder.query('UNLOCK TABLES');
      await holder.end();
    }
  });

  it('sends explorations on connections that refuse a second statement, whatever the executor read', async () => {
    const env = { URL: h.db.url };
    const targets = new MysqlTargets(quiet, env);
    try {
      const target = targets.targetFor(ConnectionConfig.parse({ name: 'x', type: 'mysql', url: 'env:URL' }) as MysqlConnectionConfig);
      const run = (sql: string) => new Promise<unknown>((resolve, reject) => target.explorePool.query(sql, (error, rows) => (error ? reject(error) : resolve(rows))));
      await expect(run('SELECT 1 AS one; DELETE FROM orders')).rejects.toMatchObject({ errno: 1064 });
      await expect(run('SELECT 1 AS one;')).resolves.toEqual([{ one: 1 }]);
    } finally {
      await targets.close();
    }
    expect(await h.query('SELECT count(*) AS n FROM orders')).toEqual([{ n: '120' }]);
  });

  it('audits the run with its session and statement', async () => {
    const request = h.signExploration(`SELECT 1 AS one ${tag()}`, onAppDb);
    await h.exec(request);
    const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.completed']);
    for (const event of events) expect(event).toMatchObject({ tool: 'explore_sql', params: { sql: request.body }, details: { session: `ses_${'0'.repeat(24)}`, exploration: 'explore_sql' } });
    expect(events[0]?.runbook).toBeUndefined();
  });

  describe('property: the database is unchanged after every statement, accepted by the check or not', () => {
    const column = fc.constantFrom('id', 'status', 'customer', 'amount');
    const table = fc.constantFrom('orders', 'secrets', 'write_log');
    const value = fc.oneof(fc.integer({ min: -5, max: 200 }).map(String), fc.constantFrom("'stuck'", "'x''y'", "'a\\'b'", '"q"', 'NULL', 'TRUE', "X'41'"));
    const junk = fc.constantFrom(' ', '\n', ' /* ; DELETE FROM orders */ ', ' -- ;\n', ' # ;\n', '\t', ' /*! */ ');
    const read = fc.oneof(
      fc.tuple(column, table, column, value).map(([c, t, w, v]) => `SELECT ${c} FROM ${t} WHERE ${w} = ${v}`),
      fc.tuple(table).map(([t]) => `SELECT count(*) FROM ${t}`),
      fc.tuple(column, value).map(([c, v]) => `WITH x AS (SELECT * FROM orders WHERE ${c} <> ${v}) SELECT count(*) FROM x`),
      fc.constantFrom('SHOW TABLES', 'SHOW CREATE TABLE orders', 'EXPLAIN SELECT * FROM orders', 'DESCRIBE orders', 'SELECT SLEEP(0)', '(SELECT 1) UNION (SELECT 2)'),
    );
    const write = fc.oneof(
      fc.tuple(table, column, value).map(([t, c, v]) => `UPDATE ${t} SET ${c} = ${v}`),
      fc.tuple(table, column, value).map(([t, c, v]) => `DELETE FROM ${t} WHERE ${c} = ${v}`),
      fc.tuple(value).map(([v]) => `INSERT INTO write_log VALUES (${v})`),
      fc.tuple(column, value).map(([c, v]) => `/*! UPDATE orders SET ${c === 'id' ? 'status' : c} = ${v} */`),
      fc.tuple(value).map(([v]) => `SELECT bump(), ${v}`),
      fc.constantFrom(
        'TRUNCATE write_log',
        'DROP TABLE secrets',
        'CREATE TABLE extra (a int)',
        'CREATE TEMPORARY TABLE t AS SELECT 1',
        'SELECT NEXTVAL(order_numbers)',
        'SELECT * FROM orders FOR UPDATE',
        'SELECT * FROM orders LOCK IN SHARE MODE',
        "SELECT * FROM orders INTO OUTFILE '/tmp/rg-explore-property'",
        "SELECT LOAD_FILE('/etc/hostname')",
        'SELECT @n := 1',
        'SET @x = (SELECT bump())',
        'SET autocommit = 1',
        'SET SESSION TRANSACTION READ WRITE',
        'START TRANSACTION READ WRITE',
        'COMMIT',
        'DO bump()',
        'HANDLER orders OPEN',
        'LOCK TABLES orders WRITE',
        'GRANT ALL ON *.* TO CURRENT_USER',
        'ALTER TABLE orders ADD COLUMN x int',
        'RENAME TABLE secrets TO s2',
        'ANALYZE TABLE orders',
        "PREPARE s FROM 'DELETE FROM orders'",
        'EXPLAIN DELETE FROM orders',
        'WITH g AS (SELECT 1) DELETE FROM orders',
      ),
    );
    const statement = fc.oneof({ weight: 2, arbitrary: read }, { weight: 3, arbitrary: write });
    const body = fc
      .tuple(fc.array(statement, { minLength: 1, maxLength: 3 }), fc.array(junk, { minLength: 3, maxLength: 3 }), fc.boolean())
      .map(([statements, [a, b, c], trailing]) => `${a}${statements.join(`;${b}`)}${trailing ? ';' : ''}${c}`);

    it('holds for generated statements, through the check and straight to the executor', async () => {
      const start = await state();
      let accepted = 0;
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(body, async (sql) => {
          const verdict = checkExploreMysql(sql, DEFAULT_QUOTING);
          if (verdict.ok) accepted++;
          else refused++;
          // Whatever the check said, the executor gets it too: its regime alone must keep the data.
          await h.exec(h.signExploration(`${sql}\n${tag()}`, { ...onAppDb, limits: { timeoutMs: 2000, maxRows: 20, maxBytes: 65536 } })).catch(() => undefined);
          expect(await state()).toBe(start);
        }),
        { numRuns: 150 },
      );
      expect(accepted).toBeGreaterThan(0);
      expect(refused).toBeGreaterThan(0);
      expect(existsSync('/tmp/rg-explore-property')).toBe(false);
    });
  });
});
