import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExecResult } from '@rungate/contracts';
import { outputDigest } from '@rungate/executors';
import { eventually } from '@rungate/testing';
import { sha256Hex } from '@rungate/tickets';
import { ExecutorHarness } from '../testing/executor-harness';

describe('executor-mysql over NATS against MariaDB', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await ExecutorHarness.create('main');
    await h.query(`
      CREATE TABLE users (user_id int PRIMARY KEY, email varchar(200) NOT NULL, visits int NOT NULL DEFAULT 0) ENGINE=InnoDB;
      INSERT INTO users (user_id, email) VALUES (1, 'ada@example.com'), (2, 'grace@example.com'), (3, 'edsger@example.com');
      CREATE TABLE events (id int AUTO_INCREMENT PRIMARY KEY, note text NOT NULL) ENGINE=InnoDB;`);
    await h.startReplica();
  });

  afterAll(async () => {
    await h?.close();
  });

  /** A marker that makes each body (and so its digest) unique to one test. */
  const tag = () => `/* ${randomUUID()} */`;
  const users = () => h.query<{ user_id: number; email: string; visits: number }[]>('SELECT user_id, email, visits FROM users ORDER BY user_id');
  const events = () => h.query<{ n: string }[]>('SELECT count(*) AS n FROM events');
  const tables = async () => (await h.query<{ name: string }[]>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1`)).map((t) => t.name);

  describe('runs', () => {
    it('returns the columns (with MySQL type names) and rows of a one-row SELECT', async () => {
      const request = h.sign(`SELECT user_id, email FROM users WHERE user_id = 1 ${tag()}`);
      const result = await h.exec(request);
      expect(result).toMatchObject({ runId: request.runId, status: 'succeeded', dryRun: false });
      expect(result.output).toEqual({
        kind: 'sql',
        columns: [
          { name: 'user_id', type: 'int' },
          { name: 'email', type: 'varchar' },
        ],
        rows: [{ user_id: 1, email: 'ada@example.com' }],
        rowCount: 1,
        statements: [{ command: 'SELECT', rowCount: 1 }],
        truncated: false,
      });
    });

    it('runs a multi-statement body in one transaction and reports every statement', async () => {
      const result = await h.exec(
        h.sign(`INSERT INTO events (note) VALUES ('a'), ('b');
                UPDATE events SET note = CONCAT(note, '!') WHERE note IN ('a', 'b');
                SELECT count(*) AS n FROM events WHERE note LIKE '%!';
                CREATE TEMPORARY TABLE scratch (x int) ${tag()}`),
      );
      expect(result.output).toMatchObject({
        statements: [
          { command: 'INSERT', rowCount: 2 },
          { command: 'UPDATE', rowCount: 2 },
          { command: 'SELECT', rowCount: 1 },
          { command: 'CREATE TEMPORARY TABLE', rowCount: 0 },
        ],
        columns: [{ name: 'n', type: 'bigint' }],
        rows: [{ n: '2' }],
      });
    });

    it('rolls the whole body back when a statement fails, and says which error', async () => {
      const before = await users();
      const error = await h.refusal(h.sign(`UPDATE users SET visits = 100 WHERE user_id = 3; INSERT INTO users (user_id, email) VALUES (1, 'dup') ${tag()}`));
      expect(error.code).toBe('EXECUTION_FAILED');
      expect(error.message).toMatch(/Duplicate entry '1' for key 'PRIMARY' \[ER_DUP_ENTRY 1062, SQLSTATE 23000\]; the transaction was rolled back/);
      expect(await users()).toEqual(before);
    });

    it('refuses a write in a @readonly runbook and changes nothing', async () => {
      const before = await users();
      const request = h.sign(`UPDATE users SET email = 'x@example.com' WHERE user_id = 1 ${tag()}`, { readOnly: true });
      const error = await h.refusal(request);
      expect(error).toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringMatching(/@readonly.*read-only transaction/) });
      expect(await users()).toEqual(before);
      const recorded = await h.eventually(request.runId, ['audit.run.started', 'audit.run.failed']);
      expect(recorded.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'failed', errorCode: 'EXECUTION_FAILED' });
    });

    it('cannot be switched from read-only to read-write by its body', async () => {
      const error = await h.refusal(h.sign(`SET TRANSACTION READ WRITE; DELETE FROM users ${tag()}`, { readOnly: true }));
      expect(error.code).toBe('EXECUTION_FAILED');
      expect(await users()).toHaveLength(3);
    });

    it("refuses bodies that would end the executor's transaction or change its session pins, before running anything", async () => {
      const before = await users();
      const bodies: [string, RegExp][] = [
        [`COMMIT; DELETE FROM users ${tag()}`, /may not begin, commit or roll back/],
        [`BEGIN; DELETE FROM users; COMMIT; ${tag()}`, /may not begin, commit or roll back/],
        [`DELETE FROM users; ROLLBACK ${tag()}`, /may not begin, commit or roll back/],
        [`SET autocommit = 1; DELETE FROM users ${tag()}`, /change autocommit/],
        [`LOCK TABLES users WRITE; DELETE FROM users ${tag()}`, /lock tables/],
        [`SET NAMES gbk; DELETE FROM users ${tag()}`, /sets the client character set/],
        [`/*!40101 SET NAMES gbk */; DELETE FROM users ${tag()}`, /sets the client character set/],
        [`SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'; DELETE FROM users ${tag()}`, /sets sql_mode, which the executor pins/],
        [`SET @@session.max_statement_time = 0; DELETE FROM users ${tag()}`, /sets max_statement_time/],
      ];
      for (const [body, message] of bodies) {
        const request = h.sign(body);
        const error = await h.refusal(request);
        expect(error).toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringMatching(message) });
        expect(error.message).toMatch(/Nothing was executed\.$/);
        const [refused] = await h.eventually(request.runId, ['audit.run.failed']);
        expect(refused?.outcome?.status).toBe('refused');
        expect(h.eventsFor(request.runId).map((e) => e.type)).not.toContain('audit.run.started');
      }
      expect(await users()).toEqual(before);
      const savepoints = await h.exec(h.sign(`SAVEPOINT s; UPDATE users SET visits = -1; ROLLBACK TO SAVEPOINT s; SELECT min(visits) AS v FROM users ${tag()}`));
      expect(savepoints.output).toMatchObject({ rows: [{ v: Math.min(...before.map((u) => u.visits)) }] });
    });

    it('rolls a dry run back and reports what it would have done', async () => {
      const before = await users();
      const request = h.sign(`UPDATE users SET email = 'dry@example.com'; SELECT email FROM users ${tag()}`, { dryRun: true });
      const result = await h.exec(request);
      expect(result).toMatchObject({ status: 'succeeded', dryRun: true });
      expect(result.output).toMatchObject({ statements: [{ command: 'UPDATE', rowCount: 3 }, { command: 'SELECT', rowCount: 3 }], rows: [{ email: 'dry@example.com' }, { email: 'dry@example.com' }, { email: 'dry@example.com' }] });
      expect(await users()).toEqual(before);
      const recorded = await h.eventually(request.runId, ['audit.run.completed']);
      expect(recorded.find((e) => e.type === 'audit.run.completed')?.outcome).toMatchObject({ status: 'succeeded', dryRun: true });
    });

    it('refuses a dry run, or a @readonly run, of DDL — MySQL commits it implicitly — and runs nothing', async () => {
      const name = `t_${randomUUID().slice(0, 8)}`;
      const before = await users();
      for (const overrides of [{ dryRun: true }, { readOnly: true }]) {
        const request = h.sign(`UPDATE users SET visits = 7; CREATE TABLE ${name} (x int) ${tag()}`, overrides);
        const error = await h.refusal(request);
        expect(error.code).toBe('EXECUTION_FAILED');
        expect(error.message).toMatch(new RegExp(`statement 2 of this runbook \\(CREATE TABLE\\) commits implicitly in MySQL.*${overrides.dryRun ? 'without dryRun' : '@readonly'}.*Nothing was executed`));
        const [refused] = await h.eventually(request.runId, ['audit.run.failed']);
        expect(refused?.outcome?.status).toBe('refused');
      }
      expect(await tables()).not.toContain(name);
      expect(await users()).toEqual(before);
    });

    it('runs DDL in an ordinary run, and says plainly what its implicit commit kept when a later statement fails', async () => {
      const name = `t_${randomUUID().slice(0, 8)}`;
      const ok = await h.exec(h.sign(`CREATE TABLE ${name} (x int PRIMARY KEY); INSERT INTO ${name} VALUES (1) ${tag()}`));
      expect(ok.output).toMatchObject({ statements: [{ command: 'CREATE TABLE', rowCount: 0 }, { command: 'INSERT', rowCount: 1 }] });
      const error = await h.refusal(h.sign(`INSERT INTO events (note) VALUES ('before ddl'); ALTER TABLE ${name} ADD COLUMN y int; INSERT INTO ${name} (x) VALUES (1) ${tag()}`));
      expect(error.message).toMatch(/Duplicate entry.*statement 2 \(ALTER TABLE\) commits implicitly in MySQL, so statements 1–2 were committed and only the statements after it were rolled back/);
      expect(await h.query(`SELECT count(*) AS n FROM events WHERE note = 'before ddl'`)).toEqual([{ n: '1' }]);
      expect(await h.query(`SELECT column_name AS c FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position`, [name])).toEqual([{ c: 'x' }, { c: 'y' }]);
    });

    it("does not let one run's session state reach the next run on the pooled connection", async () => {
      await Promise.all(Array.from({ length: 4 }, () => h.exec(h.sign(`SET @leak = 'leaked'; CREATE TEMPORARY TABLE leak (x int) ${tag()}`))));
      const results = await Promise.all(Array.from({ length: 4 }, () => h.exec(h.sign(`SELECT @leak AS v, (SELECT count(*) FROM information_schema.tables WHERE table_name = 'leak') AS t, @@SESSION.time_zone AS tz ${tag()}`))));
      for (const result of results) expect(result.output).toMatchObject({ rows: [{ v: null, tz: '+00:00' }] });
    });

    it('sends the body exactly as reviewed: no client-side ? substitution', async () => {
      const result = await h.exec(h.sign(`SELECT '?' AS q, '??' AS qq, ':name' AS named ${tag()}`));
      expect(result.output).toMatchObject({ rows: [{ q: '?', qq: '??', named: ':name' }] });
    });

    it('never sends a file of the executor host to the server (LOAD DATA LOCAL INFILE)', async () => {
      const secret = join(h.dir, 'secret.txt');
      writeFileSync(secret, 'top secret\n');
      const error = await h.refusal(h.sign(`LOAD DATA LOCAL INFILE '${secret}' INTO TABLE events (note) ${tag()}`));
      expect(error.code).toBe('EXECUTION_FAILED');
      expect(await h.query(`SELECT count(*) AS n FROM events WHERE note LIKE '%secret%'`)).toEqual([{ n: '0' }]);
    });

    it('converts MySQL values to JSON without losing precision', async () => {
      await h.query(`CREATE TABLE docs (doc JSON); INSERT INTO docs VALUES ('{"a": [1, {"b": null}]}')`);
      const result = await h.exec(
        h.sign(`SELECT CAST(9007199254740993 AS SIGNED) AS big, CAST(18446744073709551615 AS UNSIGNED) AS ubig,
                       CAST('12345678901234567890.123456789' AS DECIMAL(40, 9)) AS exact, 1.5e0 AS f, NULL AS nothing,
                       CAST('2024-05-01 14:00:00.123456' AS DATETIME(6)) AS local, FROM_UNIXTIME(1714572000.5) AS at_ts,
                       CAST('2024-05-01' AS DATE) AS day, X'DEADBEEF' AS bytes, (SELECT doc FROM docs) AS doc,
                       b'101' AS bits, 1 AS dup, 2 AS dup, _utf8mb4'é😀' AS text ${tag()}`),
      );
      const output = result.output;
      if (output.kind !== 'sql') throw new Error('expected sql output');
      expect(output.rows).toEqual([
        {
          big: '9007199254740993',
          ubig: '18446744073709551615',
          exact: '12345678901234567890.123456789',
          f: 1.5,
          nothing: null,
          local: '2024-05-01T14:00:00.123456',
          at_ts: '2024-05-01T14:00:00.5',
          day: '2024-05-01',
          bytes: '0xdeadbeef',
          doc: { a: [1, { b: null }] },
          bits: '0x05',
          dup: 1,
          dup_2: 2,
          text: 'é😀',
        },
      ]);
      expect(Object.fromEntries(output.columns.map((c) => [c.name, c.type]))).toMatchObject({ big: 'bigint', ubig: 'bigint unsigned', exact: 'decimal', local: 'datetime', bytes: 'varbinary' });
    });

    it('reports a TIMESTAMP column in UTC whatever the server time zone', async () => {
      await h.query(`CREATE TABLE IF NOT EXISTS stamps (at TIMESTAMP(3) NOT NULL); SET time_zone = '+05:00'; INSERT INTO stamps VALUES ('2024-05-01 17:00:00.250')`);
      const result = await h.exec(h.sign(`SELECT at FROM stamps ${tag()}`));
      expect(result.output).toMatchObject({ columns: [{ name: 'at', type: 'timestamp' }], rows: [{ at: '2024-05-01T12:00:00.250Z' }] });
    });
  });

  describe('sql_mode', () => {
    it('pins the configured sql_mode, so strings and quotes are read as the values were escaped', async () => {
      const plain = await h.exec(h.sign(`SELECT 'a\\\\b' AS v, "d" AS d, @@SESSION.sql_mode AS mode ${tag()}`));
      expect(plain.output).toMatchObject({ rows: [{ v: 'a\\b', d: 'd', mode: 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION' }] });
      const nbe = await h.exec(h.sign(`SELECT 'a\\\\b' AS v ${tag()}`, { connection: { name: 'nbe-db', type: 'mysql' }, mysqlQuoting: { noBackslashEscapes: true, ansiQuotes: false } }));
      expect(nbe.output).toMatchObject({ rows: [{ v: 'a\\\\b' }] });
      const ansi = await h.exec(h.sign(`SELECT 1 AS "one", "user_id" FROM users WHERE user_id = 2 ${tag()}`, { connection: { name: 'ansi-db', type: 'mysql' }, mysqlQuoting: { noBackslashEscapes: false, ansiQuotes: true } }));
      expect(ansi.output).toMatchObject({ columns: [{ name: 'one' }, { name: 'user_id' }], rows: [{ one: 1, user_id: 2 }] });
    });

    it('refuses a ticket rendered for another sql_mode, or for none', async () => {
      for (const mysqlQuoting of [{ noBackslashEscapes: true, ansiQuotes: false }, undefined]) {
        const request = h.sign(`SELECT 1 ${tag()}`, { mysqlQuoting });
        const error = await h.refusal(request);
        expect(error).toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringMatching(/rendered for .*sql_mode than connection app-db pins.*Nothing was executed/) });
      }
    });
  });

  describe('limits', () => {
    it('caps rows and says the output was truncated', async () => {
      const request = h.sign(`SELECT seq AS n FROM seq_1_to_50 ${tag()}`, { limits: { timeoutMs: 10_000, maxRows: 10, maxBytes: 1024 * 1024 } });
      const result = await h.exec(request);
      expect(result.output).toMatchObject({ truncated: true, rowCount: 50 });
      expect(result.output.kind === 'sql' && result.output.rows).toEqual(Array.from({ length: 10 }, (_, i) => ({ n: String(i + 1) })));
      const recorded = await h.eventually(request.runId, ['audit.run.completed']);
      expect(recorded.find((e) => e.type === 'audit.run.completed')?.outcome).toMatchObject({ rows: 10, truncated: true });
    });

    it('caps bytes, measured on the JSON of the rows', async () => {
      const maxBytes = 1000;
      const result = await h.exec(h.sign(`SELECT seq AS n, REPEAT('x', 100) AS pad FROM seq_1_to_100 ${tag()}`, { limits: { timeoutMs: 10_000, maxRows: 1000, maxBytes } }));
      if (result.output.kind !== 'sql') throw new Error('expected sql output');
      expect(result.output.truncated).toBe(true);
      expect(result.output.rows.length).toBeGreaterThan(0);
      expect(Buffer.byteLength(JSON.stringify(result.output.rows))).toBeLessThanOrEqual(maxBytes);
      expect(Buffer.byteLength(JSON.stringify([...result.output.rows, result.output.rows[0]]))).toBeGreaterThan(maxBytes);
    });

    it("applies the connection's own caps when the ticket asks for more", async () => {
      const result = await h.exec(h.sign(`SELECT seq AS n FROM seq_1_to_10 ${tag()}`, { connection: { name: 'small-db', type: 'mysql' } }));
      expect(result.output).toMatchObject({ truncated: true, rowCount: 10, rows: [{ n: '1' }, { n: '2' }, { n: '3' }] });
    });

    it('stops a run that exceeds its time limit on the server, and the query is gone', async () => {
      const marker = randomUUID();
      const request = h.sign(`SELECT SLEEP(30) /* ${marker} */`, { limits: { timeoutMs: 700, maxRows: 10, maxBytes: 10_000 } });
      const error = await h.refusal(request);
      expect(error.code).toBe('TIMEOUT');
      expect(error.message).toMatch(/700 ms/);
      await eventually(async () => expect(await h.query(`SELECT id FROM information_schema.PROCESSLIST WHERE INFO LIKE ? AND ID <> CONNECTION_ID()`, [`%${marker}%`])).toEqual([]), 5000);
      const recorded = await h.eventually(request.runId, ['audit.run.failed']);
      expect(recorded.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'timed_out', errorCode: 'TIMEOUT' });
    });

    it('times out a write, rolls it back and releases its locks', async () => {
      const error = await h.refusal(h.sign(`UPDATE users SET visits = 999; SELECT SLEEP(30) ${tag()}`, { limits: { timeoutMs: 500, maxRows: 10, maxBytes: 10_000 } }));
      expect(error.code).toBe('TIMEOUT');
      expect((await users()).map((u) => u.visits)).not.toContain(999);
      const result = await h.exec(h.sign(`UPDATE users SET visits = visits WHERE user_id = 1 ${tag()}`, { limits: { timeoutMs: 5000, maxRows: 10, maxBytes: 10_000 } }));
      expect(result.status).toBe('succeeded');
    });
  });

  describe('refusals: nothing runs, everything is audited', () => {
    const insert = () => `INSERT INTO events (note) VALUES ('must not run') ${tag()}`;

    async function eventsTableUnchanged<T>(work: () => Promise<T>): Promise<T> {
      const before = await events();
      const result = await work();
      expect(await events()).toEqual(before);
      return result;
    }

    it('refuses a ticket signed by another key', async () => {
      const request = h.sign(insert(), {}, h.foreignKey);
      const error = await eventsTableUnchanged(() => h.refusal(request));
      expect(error.code).toBe('TICKET_INVALID');
      const event = await h.refusalByBody(request.body);
      expect(event).toMatchObject({ type: 'audit.run.failed', source: 'executor-mysql', outcome: { status: 'refused', errorCode: 'TICKET_INVALID' } });
      expect(event.details).toMatchObject({ ticketSha256: sha256Hex(request.ticket) });
    });

    it('runs a ticket once and refuses its replay', async () => {
      const request = h.sign(`INSERT INTO events (note) VALUES ('once') ${tag()}`);
      await h.exec(request);
      const count = () => h.query<{ n: string }[]>(`SELECT count(*) AS n FROM events WHERE note = 'once'`);
      const once = await count();
      const error = await h.refusal(request);
      expect(error.code).toBe('TICKET_REPLAYED');
      expect(await count()).toEqual(once);
      const recorded = await h.eventually(request.runId, ['audit.run.started', 'audit.run.completed', 'audit.run.failed']);
      expect(recorded.map((e) => [e.type, e.outcome?.status ?? null])).toEqual([
        ['audit.run.started', null],
        ['audit.run.completed', 'succeeded'],
        ['audit.run.failed', 'refused'],
      ]);
      expect((await h.exec(h.sign(`SELECT 1 AS one ${tag()}`))).status).toBe('succeeded');
    });

    it('refuses a body that differs from the one the ticket names', async () => {
      const request = h.sign(`SELECT 1 ${tag()}`);
      const error = await eventsTableUnchanged(() => h.refusal({ ticket: request.ticket, body: insert() }));
      expect(error.code).toBe('BODY_MISMATCH');
      expect((await h.exec(request)).status).toBe('succeeded');
    });

    it('refuses a connection this executor does not have, or of another type', async () => {
      for (const connection of [
        { name: 'nope', type: 'mysql' as const },
        { name: 'pg-db', type: 'mysql' as const },
        { name: 'pg-db', type: 'postgres' as const },
      ]) {
        const request = h.sign(insert(), { connection });
        const error = await eventsTableUnchanged(() => h.refusal(request));
        expect(error.code).toBe('CONNECTION_UNKNOWN');
      }
    });
  });

  describe('targets', () => {
    it('reports an unreachable target without credentials and audits the run as failed', async () => {
      const request = h.sign(`SELECT 1 ${tag()}`, { connection: { name: 'down-db', type: 'mysql' } });
      const error = await h.refusal(request);
      expect(error.code).toBe('TARGET_UNAVAILABLE');
      expect(error.message).toContain(`127.0.0.1:${h.downPort}`);
      expect(error.message).toMatch(/connection refused; nothing was executed/);
      expect(error.message).not.toMatch(/mysql:\/\/|rungate|down-pw/);
      const recorded = await h.eventually(request.runId, ['audit.run.started', 'audit.run.failed']);
      expect(recorded.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'failed', errorCode: 'TARGET_UNAVAILABLE' });
    });

    it('reports a connection whose secret is not set, naming the reference only', async () => {
      const error = await h.refusal(h.sign(`SELECT 1 ${tag()}`, { connection: { name: 'unset-db', type: 'mysql' } }));
      expect(error).toMatchObject({ code: 'TARGET_UNAVAILABLE', message: expect.stringMatching(/unset-db: secret env:RG_MYSQL_TEST_\w+_NEVER_SET: environment variable is not set/) });
    });

    it('never lets a connection secret into a reply or an audit event', async () => {
      const request = h.sign(`SELECT CURRENT_USER() AS who ${tag()}`);
      const result = await h.exec(request);
      expect(result.output).toMatchObject({ rows: [{ who: `${h.db.user}@%` }] });
      await h.eventually(request.runId, ['audit.run.completed']);
      const everything = JSON.stringify([result, h.audit]);
      expect(everything).not.toContain(h.db.password);
      expect(everything).not.toContain(h.downPassword);
    });
  });

  describe('audit', () => {
    it('records started before completed, with who, what, where and a digest of the output', async () => {
      const request = h.sign(`SELECT email FROM users WHERE user_id = 2 ${tag()}`);
      const result = ExecResult.parse(await h.exec(request));
      const recorded = await h.eventually(request.runId, ['audit.run.started', 'audit.run.completed']);
      expect(recorded.map((e) => e.type)).toEqual(['audit.run.started', 'audit.run.completed']);
      const digest = outputDigest(result.output);
      expect(recorded[1]).toMatchObject({
        source: 'executor-mysql',
        runId: request.runId,
        connection: { name: 'app-db', type: 'mysql' },
        outcome: { status: 'succeeded', rows: 1, bytes: digest.bytes, truncated: false, outputSha256: digest.sha256, dryRun: false },
        details: { statements: [{ command: 'SELECT', rowCount: 1 }] },
      });
    });
  });
});
