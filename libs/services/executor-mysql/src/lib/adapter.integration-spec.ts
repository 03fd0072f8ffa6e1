import { randomUUID } from 'node:crypto';
import { RungateError, type RunTicketClaims } from '@rungate/contracts';
import { ConnectionConfig, type MysqlConnectionConfig } from '@rungate/config';
import { createTestMysqlDatabase, eventually, testClaims, type TestMysqlDatabase } from '@rungate/testing';
import { MysqlAdapter } from './mysql.adapter';
import { MysqlTargets } from './mysql-targets';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** The adapter alone, against MariaDB: what open, abandon and cancel leave on the server. */
describe('MysqlAdapter sessions against MariaDB', () => {
  let db: TestMysqlDatabase;
  let adapter: MysqlAdapter;
  let connection: MysqlConnectionConfig;
  const env = { APP_URL: '' };

  beforeAll(async () => {
    db = await createTestMysqlDatabase('rgadapter');
    env.APP_URL = db.url;
    await db.query('CREATE TABLE marks (note varchar(100)) ENGINE=InnoDB');
    connection = ConnectionConfig.parse({ name: 'app-db', type: 'mysql', url: 'env:APP_URL', pool: { max: 2 } }) as MysqlConnectionConfig;
    adapter = new MysqlAdapter(new MysqlTargets(quiet, env), quiet, { killConnectionAfterMs: 2000 });
  });

  afterAll(async () => {
    await adapter?.close();
    await db?.drop();
  });

  const claims = (body: string, overrides: Partial<RunTicketClaims> = {}): RunTicketClaims =>
    testClaims(body, { path: 'm.runbook.sql', connection: { name: 'app-db', type: 'mysql' }, groups: ['g'], rule: 'r' }, { mysqlQuoting: { noBackslashEscapes: false, ansiQuotes: false }, ...overrides });
  const sessions = () => db.query<{ id: string; info: string | null; command: string }[]>(`SELECT ID AS id, INFO AS info, COMMAND AS command FROM information_schema.PROCESSLIST WHERE USER = ?`, [db.user]);

  it('cancels a running statement with KILL QUERY from another connection, and the query is gone', async () => {
    const marker = randomUUID();
    const body = `INSERT INTO marks VALUES ('${marker}'); SELECT SLEEP(30) /* ${marker} */`;
    const prepared = adapter.prepare(claims(body, { limits: { timeoutMs: 60_000, maxRows: 10, maxBytes: 10_000 } }), body, connection);
    const abort = new AbortController();
    const running = adapter.run(prepared, abort.signal);
    running.catch(() => undefined);
    await eventually(async () => expect((await sessions()).some((s) => s.info?.includes(marker))).toBe(true), 5000);
    const killed = String(prepared.connectionId);
    abort.abort('timeout');
    await adapter.cancel(prepared);
    const error = await running.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RungateError);
    expect((error as RungateError).message).toMatch(/killed \(KILL QUERY\); the transaction was rolled back/);
    await eventually(async () => expect((await sessions()).filter((s) => s.info?.includes(marker))).toEqual([]), 5000);
    expect(await db.query(`SELECT count(*) AS n FROM marks WHERE note = ?`, [marker])).toEqual([{ n: '0' }]);
    // A connection a KILL was sent to is not handed to another run: it is closed.
    await eventually(async () => expect((await sessions()).map((s) => s.id)).not.toContain(killed), 5000);
  });

  it('opens the session without sending the body, and abandon rolls back an empty transaction', async () => {
    const marker = randomUUID();
    const body = `INSERT INTO marks VALUES ('${marker}')`;
    const prepared = adapter.prepare(claims(body), body, connection);
    await adapter.open(prepared, new AbortController().signal);
    const open = await sessions();
    expect(open.some((s) => s.info?.includes(marker))).toBe(false);
    await adapter.abandon(prepared);
    expect(await db.query(`SELECT count(*) AS n FROM marks WHERE note = ?`, [marker])).toEqual([{ n: '0' }]);
    // The connection went back to the pool and serves the next run.
    const next = `SELECT 1 AS one`;
    const output = await adapter.run(adapter.prepare(claims(next), next, connection), new AbortController().signal);
    expect(output).toMatchObject({ rows: [{ one: 1 }] });
  });

  it('stops opening when the run is cancelled while it waits for a connection', async () => {
    const holders = await Promise.all(
      [1, 2].map(async () => {
        const body = `SELECT SLEEP(2) ${randomUUID()}`;
        const prepared = adapter.prepare(claims(body), body, connection);
        await adapter.open(prepared, new AbortController().signal);
        return prepared;
      }),
    );
    const body = `SELECT 1 ${randomUUID()}`;
    const waiting = adapter.prepare(claims(body), body, connection);
    const abort = new AbortController();
    const opening = adapter.open(waiting, abort.signal);
    abort.abort('timeout');
    await expect(opening).rejects.toThrow(/cancelled while it waited for a database connection; nothing was executed/);
    await Promise.all(holders.map((prepared) => adapter.abandon(prepared)));
  });
});
