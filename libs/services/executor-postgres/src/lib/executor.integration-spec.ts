import { randomUUID } from 'node:crypto';
import { ExecResult } from '@rungate/contracts';
import { outputDigest } from '@rungate/executors';
import { eventually } from '@rungate/testing';
import { generateTicketKeyPair, sha256Hex, signingKeyFromPem } from '@rungate/tickets';
import { ExecutorHarness } from '../testing/executor-harness';

describe('executor-postgres over NATS against PostgreSQL', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await ExecutorHarness.create('main');
    await h.query(`
      CREATE TYPE mood AS ENUM ('ok', 'happy');
      CREATE TABLE users (user_id int PRIMARY KEY, email text NOT NULL, visits int NOT NULL DEFAULT 0);
      INSERT INTO users (user_id, email) VALUES (1, 'ada@example.com'), (2, 'grace@example.com'), (3, 'edsger@example.com');
      CREATE TABLE events (id serial PRIMARY KEY, note text NOT NULL);`);
    await h.startReplica();
  });

  afterAll(async () => {
    await h?.close();
  });

  /** A marker that makes each body (and so its digest) unique to one test. */
  const tag = () => `/* ${randomUUID()} */`;

  async function users(): Promise<{ user_id: number; email: string; visits: number }[]> {
    return h.query('SELECT user_id, email, visits FROM users ORDER BY user_id');
  }

  describe('runs', () => {
    it('returns the columns (with PostgreSQL type names) and rows of a one-row SELECT', async () => {
      const request = h.sign(`SELECT user_id, email FROM users WHERE user_id = 1 ${tag()}`);
      const result = await h.exec(request);
      expect(result).toMatchObject({ runId: request.runId, status: 'succeeded', dryRun: false });
      expect(result.output).toEqual({
        kind: 'sql',
        columns: [
          { name: 'user_id', type: 'int4' },
          { name: 'email', type: 'text' },
        ],
        rows: [{ user_id: 1, email: 'ada@example.com' }],
        rowCount: 1,
        statements: [{ command: 'SELECT', rowCount: 1 }],
        truncated: false,
      });
    });

    it('reports the rows an UPDATE affected', async () => {
      const before = await users();
      const result = await h.exec(h.sign(`UPDATE users SET visits = visits + 1 WHERE user_id IN (1, 2) ${tag()}`));
      expect(result.output).toMatchObject({ kind: 'sql', statements: [{ command: 'UPDATE', rowCount: 2 }], rows: [], rowCount: 0 });
      const after = await users();
      expect(after.map((u) => u.visits - (before.find((b) => b.user_id === u.user_id)?.visits ?? 0))).toEqual([1, 1, 0]);
    });

    it('runs a multi-statement body in one transaction and returns the last result set', async () => {
      const result = await h.exec(
        h.sign(`INSERT INTO events (note) VALUES ('a'), ('b');
                UPDATE events SET note = note || '!' WHERE note IN ('a', 'b') RETURNING note;
                SELECT count(*) AS n FROM events WHERE note LIKE '%!';
                CREATE TEMP TABLE scratch (x int) ${tag()}`),
      );
      expect(result.output).toMatchObject({
        statements: [
          { command: 'INSERT', rowCount: 2 },
          { command: 'UPDATE', rowCount: 2 },
          { command: 'SELECT', rowCount: 1 },
          { command: 'CREATE TABLE', rowCount: null },
        ],
        columns: [{ name: 'n', type: 'int8' }],
        rows: [{ n: '2' }],
      });
    });

    it('rolls the whole body back when a statement fails, and says which error', async () => {
      const before = await users();
      const error = await h.refusal(h.sign(`UPDATE users SET visits = 100 WHERE user_id = 3; SELECT 1/0 ${tag()}`));
      expect(error.code).toBe('EXECUTION_FAILED');
      expect(error.message).toMatch(/division by zero.*SQLSTATE 22012.*rolled back/);
      expect(await users()).toEqual(before);
    });

    it('refuses a write in a @readonly runbook and changes nothing', async () => {
      const before = await users();
      const request = h.sign(`UPDATE users SET email = 'x@example.com' WHERE user_id = 1 ${tag()}`, { readOnly: true });
      const error = await h.refusal(request);
      expect(error.code).toBe('EXECUTION_FAILED');
      expect(error.message).toMatch(/@readonly.*read-only transaction/);
      expect(await users()).toEqual(before);
      const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.failed']);
      expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'failed', errorCode: 'EXECUTION_FAILED' });
    });

    it('cannot be switched from read-only to read-write by its body', async () => {
      const error = await h.refusal(h.sign(`SET TRANSACTION READ WRITE; DELETE FROM users ${tag()}`, { readOnly: true }));
      expect(error.code).toBe('EXECUTION_FAILED');
      expect(await users()).toHaveLength(3);
    });

    it('refuses bodies that would end the executor\'s transaction, before running anything', async () => {
      const before = await users();
      for (const body of [`COMMIT; DELETE FROM users ${tag()}`, `BEGIN; DELETE FROM users; COMMIT; ${tag()}`, `DELETE FROM users; ROLLBACK ${tag()}`]) {
        const request = h.sign(body, { dryRun: true });
        const error = await h.refusal(request);
        expect(error).toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringMatching(/may not begin, commit or roll back.*Nothing was executed/) });
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
      const request = h.sign(`UPDATE users SET email = 'dry@example.com' RETURNING user_id ${tag()}`, { dryRun: true });
      const result = await h.exec(request);
      expect(result).toMatchObject({ status: 'succeeded', dryRun: true });
      expect(result.output).toMatchObject({ statements: [{ command: 'UPDATE', rowCount: 3 }], rowCount: 3 });
      expect(await users()).toEqual(before);
      const events = await h.eventually(request.runId, ['audit.run.completed']);
      expect(events.find((e) => e.type === 'audit.run.completed')?.outcome).toMatchObject({ status: 'succeeded', dryRun: true });
    });

    it('does not let one run\'s session settings reach the next run on the pooled connection', async () => {
      await Promise.all(Array.from({ length: 4 }, () => h.exec(h.sign(`SET search_path = nowhere; SET application_name = 'leak' ${tag()}`))));
      const results = await Promise.all(Array.from({ length: 4 }, () => h.exec(h.sign(`SHOW search_path ${tag()}`))));
      for (const result of results) expect(result.output).toMatchObject({ rows: [{ search_path: '"$user", public' }] });
    });

    it('converts PostgreSQL values to JSON without losing precision', async () => {
      const result = await h.exec(
        h.sign(`SELECT 9007199254740993::int8 AS big, 12345678901234567890.123456789::numeric AS exact, 1.5::float8 AS f,
                       'NaN'::float8 AS nan, true AS yes, NULL::text AS nothing,
                       '2024-05-01 14:00:00.123456+02'::timestamptz AS at, '2024-05-01 14:00:00.5'::timestamp AS local,
                       '2024-05-01'::date AS day, '\\xdeadbeef'::bytea AS bytes, '{"a": [1, {"b": null}]}'::jsonb AS doc,
                       ARRAY[1, NULL, 3] AS ints, ARRAY[['a b', 'c"d'], ['e', NULL]] AS texts, ARRAY['ok', 'happy']::mood[] AS moods,
                       'happy'::mood AS mood, '1 day 02:00:00'::interval AS span, '00000000-0000-0000-0000-000000000001'::uuid AS id,
                       1 AS dup, 2 AS dup ${tag()}`),
      );
      const output = result.output;
      if (output.kind !== 'sql') throw new Error('expected sql output');
      expect(output.rows).toEqual([
        {
          big: '9007199254740993',
          exact: '12345678901234567890.123456789',
          f: 1.5,
          nan: 'NaN',
          yes: true,
          nothing: null,
          at: '2024-05-01T12:00:00.123456Z',
          local: '2024-05-01T14:00:00.5',
          day: '2024-05-01',
          bytes: '\\xdeadbeef',
          doc: { a: [1, { b: null }] },
          ints: [1, null, 3],
          texts: [
            ['a b', 'c"d'],
            ['e', null],
          ],
          moods: ['ok', 'happy'],
          mood: 'happy',
          span: '1 day 02:00:00',
          id: '00000000-0000-0000-0000-000000000001',
          dup: 1,
          dup_2: 2,
        },
      ]);
      expect(Object.fromEntries(output.columns.map((c) => [c.name, c.type]))).toMatchObject({
        big: 'int8',
        exact: 'numeric',
        at: 'timestamptz',
        bytes: 'bytea',
        doc: 'jsonb',
        ints: 'int4[]',
        moods: 'mood[]',
        mood: 'mood',
      });
    });
  });

  describe('limits', () => {
    it('caps rows and says the output was truncated', async () => {
      const request = h.sign(`SELECT g AS n FROM generate_series(1, 50) g ${tag()}`, { limits: { timeoutMs: 10_000, maxRows: 10, maxBytes: 1024 * 1024 } });
      const result = await h.exec(request);
      expect(result.output).toMatchObject({ truncated: true, rowCount: 50 });
      expect(result.output.kind === 'sql' && result.output.rows).toEqual(Array.from({ length: 10 }, (_, i) => ({ n: i + 1 })));
      const events = await h.eventually(request.runId, ['audit.run.completed']);
      expect(events.find((e) => e.type === 'audit.run.completed')?.outcome).toMatchObject({ rows: 10, truncated: true });
    });

    it('caps bytes, measured on the JSON of the rows', async () => {
      const maxBytes = 1000;
      const result = await h.exec(h.sign(`SELECT g AS n, repeat('x', 100) AS pad FROM generate_series(1, 100) g ${tag()}`, { limits: { timeoutMs: 10_000, maxRows: 1000, maxBytes } }));
      if (result.output.kind !== 'sql') throw new Error('expected sql output');
      expect(result.output.truncated).toBe(true);
      expect(result.output.rows.length).toBeGreaterThan(0);
      expect(Buffer.byteLength(JSON.stringify(result.output.rows))).toBeLessThanOrEqual(maxBytes);
      expect(Buffer.byteLength(JSON.stringify([...result.output.rows, result.output.rows[0]]))).toBeGreaterThan(maxBytes);
    });

    it('applies the connection\'s own caps when the ticket asks for more', async () => {
      const result = await h.exec(h.sign(`SELECT g AS n FROM generate_series(1, 10) g ${tag()}`, { connection: { name: 'small-db', type: 'postgres' } }));
      expect(result.output).toMatchObject({ truncated: true, rowCount: 10, rows: [{ n: 1 }, { n: 2 }, { n: 3 }] });
    });

    it('cancels a run that exceeds its time limit, and the backend stops', async () => {
      const marker = randomUUID();
      const request = h.sign(`SELECT pg_sleep(30) /* ${marker} */`, { limits: { timeoutMs: 700, maxRows: 10, maxBytes: 10_000 } });
      const started = Date.now();
      const error = await h.refusal(request);
      expect(error.code).toBe('TIMEOUT');
      expect(error.message).toMatch(/700 ms/);
      expect(Date.now() - started).toBeLessThan(5000);
      const active = await h.query(`SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1`, [`%${marker}%`]);
      expect(active).toEqual([]);
      const events = await h.eventually(request.runId, ['audit.run.failed']);
      expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'timed_out', errorCode: 'TIMEOUT' });
    });

    it('times out a write, rolls it back and releases its locks', async () => {
      const error = await h.refusal(h.sign(`UPDATE users SET visits = 999; SELECT pg_sleep(30) ${tag()}`, { limits: { timeoutMs: 500, maxRows: 10, maxBytes: 10_000 } }));
      expect(error.code).toBe('TIMEOUT');
      expect((await users()).map((u) => u.visits)).not.toContain(999);
      const result = await h.exec(h.sign(`UPDATE users SET visits = visits WHERE user_id = 1 ${tag()}`, { limits: { timeoutMs: 2000, maxRows: 10, maxBytes: 10_000 } }));
      expect(result.status).toBe('succeeded');
    });
  });

  describe('refusals: nothing runs, everything is audited', () => {
    const insert = () => `INSERT INTO events (note) VALUES ('must not run') ${tag()}`;

    async function eventsTableUnchanged<T>(work: () => Promise<T>): Promise<T> {
      const before = await h.query('SELECT count(*)::int AS n FROM events');
      const result = await work();
      expect(await h.query('SELECT count(*)::int AS n FROM events')).toEqual(before);
      return result;
    }

    it('refuses a ticket signed by another key', async () => {
      const request = h.sign(insert(), {}, h.foreignKey);
      const error = await eventsTableUnchanged(() => h.refusal(request));
      expect(error.code).toBe('TICKET_INVALID');
      const event = await h.refusalByBody(request.body);
      expect(event).toMatchObject({ type: 'audit.run.failed', source: 'executor-postgres', outcome: { status: 'refused', errorCode: 'TICKET_INVALID' } });
      expect(event.runId).toBeUndefined();
      expect(event.actor).toBeUndefined();
      expect(event.details).toMatchObject({ ticketSha256: sha256Hex(request.ticket) });
    });

    it('refuses a ticket whose signature was tampered with', async () => {
      const request = h.sign(insert());
      const [header, payload] = request.ticket.split('.');
      const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString());
      const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, readOnly: false, connection: { name: 'app-db', type: 'postgres' }, runId: randomUUID() })).toString('base64url')}.${request.ticket.split('.')[2]}`;
      const error = await eventsTableUnchanged(() => h.refusal({ ticket: forged, body: request.body }));
      expect(error.code).toBe('TICKET_INVALID');
      await h.refusalByBody(request.body);
    });

    it('refuses an expired ticket', async () => {
      const now = Math.floor(Date.now() / 1000);
      const request = h.sign(insert(), { iat: now - 120, exp: now - 90 });
      const error = await eventsTableUnchanged(() => h.refusal(request));
      expect(error.code).toBe('TICKET_EXPIRED');
      const event = await h.refusalByBody(request.body);
      expect(event.outcome).toMatchObject({ status: 'refused', errorCode: 'TICKET_EXPIRED' });
      expect(event.runId).toBeUndefined();
    });

    it('runs a ticket once and refuses its replay', async () => {
      const request = h.sign(`INSERT INTO events (note) VALUES ('once') ${tag()}`);
      await h.exec(request);
      const count = () => h.query<{ n: number }>(`SELECT count(*)::int AS n FROM events WHERE note = 'once'`);
      const [{ n }] = (await count()) as [{ n: number }];
      const error = await h.refusal(request);
      expect(error.code).toBe('TICKET_REPLAYED');
      expect(await count()).toEqual([{ n }]);
      const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.completed', 'audit.run.failed']);
      expect(events.map((e) => [e.type, e.outcome?.status ?? null])).toEqual([
        ['audit.run.started', null],
        ['audit.run.completed', 'succeeded'],
        ['audit.run.failed', 'refused'],
      ]);
      expect(events[2]?.outcome?.errorCode).toBe('TICKET_REPLAYED');
      // The replay's transaction was opened while its claim was refused (ADR 9): it was
      // rolled back empty, and its connection went back to the pool clean.
      await eventually(async () => {
        const open = await h.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`);
        expect(open).toEqual([{ n: 0 }]);
      }, 5_000);
      expect((await h.exec(h.sign(`SELECT 1 AS one ${tag()}`))).status).toBe('succeeded');
    });

    it('refuses a body that differs from the one the ticket names', async () => {
      const request = h.sign(`SELECT 1 ${tag()}`);
      const error = await eventsTableUnchanged(() => h.refusal({ ticket: request.ticket, body: insert() }));
      expect(error.code).toBe('BODY_MISMATCH');
      const [event] = await h.eventually(request.runId, ['audit.run.failed']);
      expect(event).toMatchObject({
        runId: request.runId,
        outcome: { status: 'refused', errorCode: 'BODY_MISMATCH' },
        actor: { user: 'alice@example.com', agent: 'claude-code' },
      });
      // The run id is not burnt: the authorized body still runs.
      expect((await h.exec(request)).status).toBe('succeeded');
    });

    it('refuses a request published straight onto the exec subject without a ticket', async () => {
      const body = insert();
      const error = await eventsTableUnchanged(() => h.refusal({ body }));
      expect(error.code).toBe('TICKET_INVALID');
      const event = await h.refusalByBody(body);
      expect(event).toMatchObject({ outcome: { status: 'refused', errorCode: 'TICKET_INVALID' } });
      expect(event.runId).toBeUndefined();
      const garbage = await h.refusal({ ticket: 'not.a.ticket', body });
      expect(garbage.code).toBe('TICKET_INVALID');
    });

    it('refuses a connection this executor does not have, or of another type', async () => {
      for (const connection of [
        { name: 'nope', type: 'postgres' as const },
        { name: 'bastion', type: 'postgres' as const },
        { name: 'bastion', type: 'ssh' as const },
      ]) {
        const request = h.sign(insert(), { connection });
        const error = await eventsTableUnchanged(() => h.refusal(request));
        expect(error.code).toBe('CONNECTION_UNKNOWN');
        const [event] = await h.eventually(request.runId, ['audit.run.failed']);
        expect(event?.outcome).toMatchObject({ status: 'refused', errorCode: 'CONNECTION_UNKNOWN' });
      }
    });
  });

  describe('targets', () => {
    it('reports an unreachable target without credentials and audits the run as failed', async () => {
      const request = h.sign(`SELECT 1 ${tag()}`, { connection: { name: 'down-db', type: 'postgres' } });
      const error = await h.refusal(request);
      expect(error.code).toBe('TARGET_UNAVAILABLE');
      expect(error.message).toContain(`127.0.0.1:${h.downPort}`);
      expect(error.message).toMatch(/connection refused; nothing was executed/);
      expect(error.message).not.toMatch(/postgres:\/\/|rungate|down-pw/);
      const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.failed']);
      expect(events.find((e) => e.type === 'audit.run.failed')?.outcome).toMatchObject({ status: 'failed', errorCode: 'TARGET_UNAVAILABLE' });
    });

    it('reports a connection whose secret is not set, naming the reference only', async () => {
      const request = h.sign(`SELECT 1 ${tag()}`, { connection: { name: 'unset-db', type: 'postgres' } });
      const error = await h.refusal(request);
      expect(error).toMatchObject({ code: 'TARGET_UNAVAILABLE', message: expect.stringMatching(/unset-db: secret env:RG_EXEC_TEST_\w+_NEVER_SET: environment variable is not set/) });
    });

    it('never lets a connection secret into a reply or an audit event', async () => {
      const request = h.sign(`SELECT current_user AS who ${tag()}`);
      const result = await h.exec(request);
      await h.eventually(request.runId, ['audit.run.completed']);
      const everything = JSON.stringify([result, h.audit]);
      expect(everything).not.toContain(h.appPassword);
      expect(everything).not.toContain(h.downPassword);
    });
  });

  describe('audit', () => {
    it('records started before completed, with who, what, where and a digest of the output', async () => {
      const request = h.sign(`SELECT email FROM users WHERE user_id = 2 ${tag()}`);
      const result = ExecResult.parse(await h.exec(request));
      const events = await h.eventually(request.runId, ['audit.run.started', 'audit.run.completed']);
      expect(events.map((e) => e.type)).toEqual(['audit.run.started', 'audit.run.completed']);
      const common = {
        source: 'executor-postgres',
        runId: request.runId,
        actor: { user: 'alice@example.com', groups: ['engineering'], agent: 'claude-code', tokenId: 'tok-1' },
        runbook: request.claims.runbook,
        connection: { name: 'app-db', type: 'postgres' },
        params: { user_id: '1', password: '[REDACTED]' },
        decision: { effect: 'allow', rule: 'engineering-postgres' },
      };
      expect(events[0]).toMatchObject({ ...common, details: { readOnly: false, dryRun: false, bodySha256: request.claims.bodySha256 } });
      const digest = outputDigest(result.output);
      expect(events[1]).toMatchObject({
        ...common,
        outcome: { status: 'succeeded', exitCode: null, rows: 1, bytes: digest.bytes, truncated: false, outputSha256: digest.sha256, dryRun: false },
        details: { statements: [{ command: 'SELECT', rowCount: 1 }] },
      });
      expect(events[1]?.outcome?.durationMs).toEqual(result.durationMs);
    });
  });

  describe('configuration', () => {
    it('accepts tickets of a key added to tickets.verifyKeys by a reload of rungate.yaml', async () => {
      const rotated = generateTicketKeyPair();
      const rotatedKey = signingKeyFromPem(rotated.privatePem);
      expect((await h.refusal(h.sign(`SELECT 1 ${tag()}`, {}, rotatedKey))).code).toBe('TICKET_INVALID');
      h.writeConfig([h.policyPublicPem, rotated.publicPem]);
      const result = await eventually(() => h.exec(h.sign(`SELECT 1 AS one ${tag()}`, {}, rotatedKey)), 10_000);
      expect(result.output).toMatchObject({ rows: [{ one: 1 }] });
      expect((await h.exec(h.sign(`SELECT 1 ${tag()}`))).status).toBe('succeeded');
    });
  });
});
