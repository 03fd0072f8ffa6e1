import { randomUUID } from 'node:crypto';
import { checkExploreSql, loadSqlParser, type SqlParser } from '@rungate/guardrails';
import { signedRequest } from '@rungate/testing';
import fc from 'fast-check';
import { Client } from 'pg';
import { ExecutorHarness } from '../testing/executor-harness';

/**
 * executor-postgres runs explorations read-only from the ticket's explore claim alone (ADR 19):
 * these tests sign exploration tickets themselves, so policy's parser never saw the statements —
 * what is refused here is refused by the executor and the database.
 */
describe('executor-postgres: explorations are read-only whatever they ask', () => {
  let h: ExecutorHarness;
  let parser: SqlParser;

  beforeAll(async () => {
    h = await ExecutorHarness.create('explore');
    parser = await loadSqlParser();
    const role = h.exploreRole;
    await h.query(`
      CREATE TABLE orders (id serial PRIMARY KEY, status text NOT NULL, customer text NOT NULL, amount numeric NOT NULL);
      INSERT INTO orders (status, customer, amount) SELECT CASE WHEN i % 3 = 0 THEN 'stuck' ELSE 'shipped' END, 'c' || i, i * 1.5 FROM generate_series(1, 120) i;
      CREATE TABLE secrets (id int PRIMARY KEY, token text NOT NULL);
      INSERT INTO secrets VALUES (1, 'do-not-read');
      -- Every committed write lands here; a rolled-back one leaves nothing.
      CREATE TABLE write_log (at timestamptz NOT NULL DEFAULT clock_timestamp(), tbl text NOT NULL, op text NOT NULL);
      CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO write_log (tbl, op) VALUES (TG_TABLE_NAME, TG_OP); RETURN NULL; END $$;
      CREATE TRIGGER orders_log AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON orders FOR EACH STATEMENT EXECUTE FUNCTION log_write();
      CREATE TRIGGER secrets_log AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON secrets FOR EACH STATEMENT EXECUTE FUNCTION log_write();
      DO $$ BEGIN CREATE ROLE "${role}" NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
      GRANT USAGE ON SCHEMA public TO "${role}";
      GRANT SELECT ON orders TO "${role}";`);
    await h.startReplica();
  });

  afterAll(async () => {
    await h?.close();
    const admin = new Client({ connectionString: h.db.url.replace(/\/[^/]*$/, '/test') });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS "${h.exploreRole}"`).catch(() => undefined);
    await admin.end();
  });

  const tag = () => `/* ${randomUUID()} */`;
  const onExploreDb = { connection: { name: 'explore-db', type: 'postgres' as const } };

  /** Everything a write could change: every table's rows, the sequence, the catalog's relations, large objects, the write log. */
  async function fingerprint(): Promise<string> {
    const [row] = await h.query<{ state: string }>(`
      SELECT concat_ws('|',
        (SELECT md5(string_agg(o::text, ',' ORDER BY o.id)) FROM orders o),
        (SELECT md5(string_agg(s::text, ',' ORDER BY s.id)) FROM secrets s),
        (SELECT count(*) FROM write_log),
        (SELECT last_value || '/' || is_called FROM orders_id_seq),
        (SELECT md5(string_agg(relname || ':' || relkind::text, ',' ORDER BY relname)) FROM pg_class WHERE relnamespace = 'public'::regnamespace),
        (SELECT count(*) FROM pg_largeobject_metadata),
        (SELECT md5(string_agg(rolname, ',' ORDER BY rolname)) FROM pg_roles)
      ) AS state`);
    return row?.state ?? '';
  }

  it('runs a SELECT as the read-only role in a READ ONLY transaction, capped by the ticket, and rolls it back', async () => {
    const before = await fingerprint();
    const result = await h.exec(
      h.signExploration(`SELECT id, status, current_user AS who, current_setting('transaction_read_only') AS ro FROM orders ORDER BY id ${tag()}`, {
        ...onExploreDb,
        limits: { timeoutMs: 5000, maxRows: 10, maxBytes: 1024 * 1024 },
      }),
    );
    expect(result.status).toBe('succeeded');
    expect(result.output).toMatchObject({ kind: 'sql', rowCount: 120, truncated: true });
    if (result.output.kind !== 'sql') throw new Error('sql output');
    expect(result.output.rows).toHaveLength(10);
    expect(result.output.rows[0]).toEqual({ id: 1, status: 'shipped', who: h.exploreRole, ro: 'on' });
    expect(await fingerprint()).toBe(before);
  });

  it('caps rows by the connection too: a ticket asking for more gets the connection\'s maxRows', async () => {
    const result = await h.exec(h.signExploration(`SELECT id FROM orders ${tag()}`, { ...onExploreDb, limits: { timeoutMs: 5000, maxRows: 10_000, maxBytes: 1024 * 1024 } }));
    expect(result.output.kind === 'sql' && result.output.rows.length).toBe(50);
  });

  it.each([
    ['UPDATE orders SET status = \'lost\' WHERE id = 1', 'EXPLORATION_REFUSED', /this one starts with UPDATE. Nothing was executed/],
    ['-- SELECT\nDELETE FROM orders', 'EXPLORATION_REFUSED', /starts with DELETE/],
    ["INSERT INTO orders (status, customer, amount) VALUES ('x', 'y', 1) RETURNING id", 'EXPLORATION_REFUSED', /starts with INSERT/],
    ["EXPLAIN ANALYZE UPDATE orders SET status = 'lost'", 'EXPLORATION_REFUSED', /read-only transaction: cannot execute UPDATE in a read-only transaction; nothing was written/],
    ['WITH gone AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM gone', 'EXPLORATION_REFUSED', /read-only transaction/],
    ["SELECT nextval('orders_id_seq')", 'EXECUTION_FAILED', /permission denied for sequence orders_id_seq/],
    ['SELECT 1; UPDATE orders SET status = \'x\'', 'EXECUTION_FAILED', /cannot insert multiple commands into a prepared statement/],
    ['SELECT token FROM secrets', 'EXECUTION_FAILED', /permission denied for table secrets/],
    ["SELECT pg_read_file('/etc/hostname')", 'EXECUTION_FAILED', /permission denied for function pg_read_file/],
    ["SELECT set_config('transaction_read_only', 'off', false)", 'EXECUTION_FAILED', /read-write|cannot set transaction read-write mode/],
    ["SELECT set_config('role', 'postgres', true), current_user", 'EXPLORATION_REFUSED', /changed its role or left the read-only transaction, so its output is withheld/],
    ['SET ROLE postgres', 'EXPLORATION_REFUSED', /this one starts with SET. Nothing was executed/],
    ['RESET ROLE', 'EXPLORATION_REFUSED', /starts with RESET/],
    ['/* SELECT */ SET TRANSACTION READ WRITE', 'EXPLORATION_REFUSED', /starts with SET/],
    ['COMMIT', 'EXPLORATION_REFUSED', /starts with COMMIT/],
    ["COPY orders TO PROGRAM 'touch /tmp/rg-explore'", 'EXPLORATION_REFUSED', /starts with COPY/],
    ['DO $$BEGIN DELETE FROM orders; END$$', 'EXPLORATION_REFUSED', /starts with DO/],
    ['WITH x AS (SELECT 1) SELECT * FROM x; SET ROLE postgres', 'EXECUTION_FAILED', /cannot insert multiple commands/],
  ])('refuses %s by itself, and nothing changes', async (sql, code, message) => {
    const before = await fingerprint();
    const error = await h.refusal(h.signExploration(`${sql} ${tag()}`, onExploreDb));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(await fingerprint()).toBe(before);
  });

  it('stops a statement at the ticket\'s time limit', async () => {
    const error = await h.refusal(h.signExploration(`SELECT pg_sleep(5) ${tag()}`, { ...onExploreDb, limits: { timeoutMs: 300, maxRows: 10, maxBytes: 1024 } }));
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toMatch(/time limit of 300 ms/);
  });

  it('gives up on a lock at once instead of queueing behind a write', async () => {
    const holder = new Client({ connectionString: h.db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
      const error = await h.refusal(h.signExploration(`SELECT count(*) FROM orders ${tag()}`, onExploreDb));
      expect(error.message).toMatch(/lock timeout.*an exploration waits for a lock only briefly/i);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('audits the run with its session and statement, and refuses explorations it does not run', async () => {
    const request = h.signExploration(`SELECT 1 AS one ${tag()}`, onExploreDb);
    await h.exec(request);
    const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.completed']);
    for (const event of events) expect(event).toMatchObject({ tool: 'explore_sql', params: { sql: request.body }, details: { session: `ses_${'0'.repeat(24)}`, exploration: 'explore_sql' } });
    expect(events[0]?.runbook).toBeUndefined();
    const k8s = h.signExploration(`{"read":"objects"} ${tag()}`, { ...onExploreDb });
    const claims = { ...k8s.claims, explore: { tool: 'explore_k8s' as const, session: `ses_${'0'.repeat(24)}` } };
    const error = await h.refusal(signedRequest(claims, k8s.body, h.policyKey));
    expect(error).toMatchObject({ code: 'EXPLORATION_REFUSED', message: expect.stringMatching(/does not run explore_k8s/) });
  });

  describe('property: the database is unchanged after every statement, accepted by the parser or not', () => {
    const column = fc.constantFrom('id', 'status', 'customer', 'amount');
    const table = fc.constantFrom('orders', 'secrets', 'write_log');
    const value = fc.oneof(fc.integer({ min: -5, max: 200 }).map(String), fc.constantFrom("'stuck'", "'x''y'", '$$z$$', "E'\\x41'", 'NULL', 'true'));
    const junk = fc.constantFrom(' ', '\n', ' /* ; DELETE FROM orders */ ', ' -- ;\n', '\t', '  ');
    const read = fc.oneof(
      fc.tuple(column, table, column, value).map(([c, t, w, v]) => `SELECT ${c} FROM ${t} WHERE ${w} = ${v}`),
      fc.tuple(table).map(([t]) => `SELECT count(*) FROM ${t}`),
      fc.tuple(column, value).map(([c, v]) => `WITH x AS (SELECT * FROM orders WHERE ${c} <> ${v}) SELECT count(*) FROM x`),
      fc.constantFrom('SHOW work_mem', 'EXPLAIN SELECT * FROM orders', 'VALUES (1)', 'TABLE orders', 'SELECT pg_sleep(0)'),
    );
    const write = fc.oneof(
      fc.tuple(table, column, value).map(([t, c, v]) => `UPDATE ${t} SET ${c} = ${v}`),
      fc.tuple(table, column, value).map(([t, c, v]) => `DELETE FROM ${t} WHERE ${c} = ${v}`),
      fc.tuple(value).map(([v]) => `INSERT INTO orders (status, customer, amount) VALUES ('n', 'n', 1) RETURNING ${v === 'NULL' ? 'id' : 'status'}`),
      fc.tuple(column, value).map(([c, v]) => `WITH g AS (UPDATE orders SET ${c === 'id' ? 'status' : c} = ${v} RETURNING 1) SELECT count(*) FROM g`),
      fc.constantFrom(
        'TRUNCATE write_log',
        'DROP TABLE secrets',
        'CREATE TABLE extra (a int)',
        'SELECT * INTO copy_of FROM orders',
        "COPY orders TO PROGRAM 'true'",
        "COPY orders FROM '/etc/hostname'",
        'SET ROLE postgres',
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SELECT nextval('orders_id_seq')",
        "SELECT lo_import('/etc/hostname')",
        "SELECT pg_read_file('/etc/hostname')",
        "SELECT query_to_xml('DELETE FROM orders RETURNING 1', true, false, '')",
        'SELECT * FROM orders FOR UPDATE',
        'EXPLAIN ANALYZE DELETE FROM orders',
        'BEGIN',
        'COMMIT',
        'SET TRANSACTION READ WRITE',
        'DO $$BEGIN DELETE FROM orders; END$$',
        'CREATE TEMP TABLE t AS SELECT 1',
        'LOCK orders',
        'VACUUM orders',
        'GRANT SELECT ON secrets TO PUBLIC',
        'ALTER TABLE orders ADD COLUMN x int',
        'REFRESH MATERIALIZED VIEW nothing',
      ),
    );
    const statement = fc.oneof({ weight: 2, arbitrary: read }, { weight: 3, arbitrary: write });
    const body = fc
      .tuple(fc.array(statement, { minLength: 1, maxLength: 3 }), fc.array(junk, { minLength: 3, maxLength: 3 }), fc.boolean())
      .map(([statements, [a, b, c], trailing]) => `${a}${statements.join(`;${b}`)}${trailing ? ';' : ''}${c}`);

    it('holds for generated statements, through the parser and straight to the executor', async () => {
      const start = await fingerprint();
      let accepted = 0;
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(body, async (sql) => {
          const verdict = checkExploreSql(parser.parse(sql));
          if (verdict.ok) accepted++;
          else refused++;
          // Whatever the parser said, the executor gets it too: its regime alone must keep the data.
          await h.exec(h.signExploration(`${sql}\n${tag()}`, { ...onExploreDb, limits: { timeoutMs: 2000, maxRows: 20, maxBytes: 65536 } })).catch(() => undefined);
          expect(await fingerprint()).toBe(start);
        }),
        { numRuns: 200 },
      );
      expect(accepted).toBeGreaterThan(0);
      expect(refused).toBeGreaterThan(0);
    });
  });
});
