import { randomUUID } from 'node:crypto';
import { RungateConfig, type ConnectionConfig } from '@rungate/config';
import { RungateError, type AuditEvent, type AuditEventInput, type RunTicketClaims } from '@rungate/contracts';
import { KvRunLedger, completeAuditEvent, connectNats, type AuditSink } from '@rungate/messaging';
import { createTestDatabase, type TestDatabase } from '@rungate/testing';
import { generateTicketKeyPair, sha256Hex, signTicket, signingKeyFromPem, verifyKeyFromPem } from '@rungate/tickets';
import type { NatsConnection } from 'nats';
import { Client } from 'pg';
import { identityMasker } from '../adapter';
import { ExecutionPipeline } from '../pipeline';
import { PostgresAdapter } from './postgres.adapter';

/** Records what the executor audits; the real JetStream sink is tested in libs/messaging. */
class RecordingSink implements AuditSink {
  events: AuditEvent[] = [];
  failNext = false;
  async publish(input: AuditEventInput): Promise<AuditEvent> {
    if (this.failNext) {
      this.failNext = false;
      throw new RungateError('AUDIT_UNAVAILABLE', 'the audit stream did not acknowledge');
    }
    const event = completeAuditEvent(input);
    this.events.push(event);
    return event;
  }
  of(runId: string): string[] {
    return this.events.filter((e) => e.runId === runId).map((e) => `${e.type}:${e.outcome?.status ?? ''}${e.outcome?.errorCode ? `:${e.outcome.errorCode}` : ''}`);
  }
}

describe('PostgreSQL executor pipeline', () => {
  let db: TestDatabase;
  let nc: NatsConnection;
  let pipeline: ExecutionPipeline;
  let adapter: PostgresAdapter;
  let sink: RecordingSink;
  let target: Client;
  const keys = generateTicketKeyPair();
  const signing = signingKeyFromPem(keys.privatePem);
  let connections: ConnectionConfig[];

  function ticket(body: string, overrides: Partial<RunTicketClaims> = {}, key = signing): { ticket: string; body: string; runId: string } {
    const now = Math.floor(Date.now() / 1000);
    const runId = overrides.runId ?? randomUUID();
    const claims: RunTicketClaims = {
      v: 1,
      runId,
      iat: now,
      exp: now + 30,
      identity: { user: 'alice@example.com', groups: ['eng'], agent: 'test' },
      runbook: { repository: 'demo', path: 'x.runbook.sql', commit: 'c0ffee', sha256: 'abc' },
      bodySha256: sha256Hex(body),
      connection: { name: 'app', type: 'postgres' },
      params: {},
      env: {},
      limits: { timeoutMs: 5000, maxRows: 10, maxBytes: 100_000 },
      readOnly: false,
      dryRun: false,
      ...overrides,
    };
    return { ticket: signTicket(claims, key), body, runId };
  }

  async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
    try {
      await promise;
    } catch (error) {
      return error instanceof RungateError ? error.code : `untyped: ${(error as Error).message}`;
    }
    return undefined;
  }

  const count = async () => Number((await target.query('SELECT count(*) AS n FROM items')).rows[0].n);

  beforeAll(async () => {
    db = await createTestDatabase('rgexec');
    target = new Client({ connectionString: db.url });
    await target.connect();
    await target.query(`CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(20,2), big bigint, data jsonb, raw bytea, at timestamptz);
      INSERT INTO items SELECT g, 'item ' || g, g * 1.5, 9007199254740993 + g, jsonb_build_object('g', g), '\\xdeadbeef', '2024-01-02T03:04:05Z' FROM generate_series(1, 50) g;`);
    process.env['EXEC_TEST_DB'] = db.url;
    connections = RungateConfig.parse({
      repositories: [{ name: 'demo', url: '/x' }],
      connections: [
        { name: 'app', type: 'postgres', url: 'env:EXEC_TEST_DB', maxRows: 10 },
        { name: 'down', type: 'postgres', url: 'env:EXEC_TEST_DOWN' },
      ],
    }).connections;
    process.env['EXEC_TEST_DOWN'] = 'postgres://postgres:secret-pw@127.0.0.1:1/none';
    nc = await connectNats({ name: 'exec-test' });
    sink = new RecordingSink();
    adapter = new PostgresAdapter();
    pipeline = new ExecutionPipeline({
      adapter,
      masker: identityMasker,
      audit: sink,
      ledger: await KvRunLedger.open(nc.jetstream()),
      verifyKeys: () => [verifyKeyFromPem(keys.publicPem)],
      connections: () => connections,
      source: 'executor-postgres',
      replica: 'test',
    });
  });

  afterAll(async () => {
    await adapter?.close();
    await target?.end();
    await nc?.close();
    await db?.drop();
  });

  it('runs a query and returns typed, JSON-safe rows, audited started then completed', async () => {
    const request = ticket('SELECT id, name, price, big, data, raw, at FROM items WHERE id = 1');
    const result = await pipeline.execute(request);
    expect(result.output).toEqual({
      kind: 'sql',
      columns: [
        { name: 'id', type: 'int4' },
        { name: 'name', type: 'text' },
        { name: 'price', type: 'numeric' },
        { name: 'big', type: 'int8' },
        { name: 'data', type: 'jsonb' },
        { name: 'raw', type: 'bytea' },
        { name: 'at', type: 'timestamptz' },
      ],
      rows: [{ id: 1, name: 'item 1', price: '1.50', big: '9007199254740994', data: { g: 1 }, raw: '\\xdeadbeef', at: '2024-01-02T03:04:05.000Z' }],
      rowCount: 1,
      statements: [{ command: 'SELECT', rowCount: 1 }],
      truncated: false,
    });
    expect(sink.of(request.runId)).toEqual(['audit.run.started:', 'audit.run.completed:succeeded']);
    const completed = sink.events.find((e) => e.runId === request.runId && e.type === 'audit.run.completed');
    expect(completed?.outcome).toMatchObject({ rows: 1, truncated: false, outputSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('reports affected rows per statement, in one transaction', async () => {
    const result = await pipeline.execute(ticket("UPDATE items SET name = 'x' WHERE id <= 3; DELETE FROM items WHERE id = 50"));
    expect(result.output).toMatchObject({ statements: [{ command: 'UPDATE', rowCount: 3 }, { command: 'DELETE', rowCount: 1 }] });
    expect(await count()).toBe(49);
    const failing = ticket("UPDATE items SET name = 'y' WHERE id = 4; SELECT 1/0");
    expect(await codeOf(pipeline.execute(failing))).toBe('EXECUTION_FAILED');
    expect((await target.query('SELECT name FROM items WHERE id = 4')).rows[0].name).toBe('item 4');
  });

  it('keeps @readonly runbooks from writing', async () => {
    expect(await codeOf(pipeline.execute(ticket('DELETE FROM items', { readOnly: true })))).toBe('EXECUTION_FAILED');
    expect(await count()).toBe(49);
  });

  it('rolls a dry run back and says what it would have done', async () => {
    const result = await pipeline.execute(ticket('DELETE FROM items WHERE id > 10 RETURNING id', { dryRun: true }));
    expect(result).toMatchObject({ dryRun: true, output: { rowCount: 39, truncated: true } });
    expect(await count()).toBe(49);
  });

  it('caps rows and bytes and says so', async () => {
    const rows = await pipeline.execute(ticket('SELECT * FROM items ORDER BY id'));
    expect(rows.output).toMatchObject({ rowCount: 49, truncated: true });
    expect(rows.output.kind === 'sql' && rows.output.rows.length).toBe(10);
    const bytes = await pipeline.execute(ticket("SELECT repeat('x', 1000) AS pad FROM items", { limits: { timeoutMs: 5000, maxRows: 100, maxBytes: 3000 } }));
    expect(bytes.output.kind === 'sql' && bytes.output.rows.length).toBe(2);
    expect(bytes.output.truncated).toBe(true);
  });

  it('stops a statement at its timeout, on the server too', async () => {
    const request = ticket('SELECT pg_sleep(30)', { limits: { timeoutMs: 300, maxRows: 10, maxBytes: 1000 } });
    expect(await codeOf(pipeline.execute(request))).toBe('TIMEOUT');
    const { rows } = await target.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'`);
    expect(Number(rows[0].n)).toBe(0);
    expect(sink.of(request.runId)).toEqual(['audit.run.started:', 'audit.run.failed:failed:TIMEOUT']);
  });

  it('refuses forged, expired, replayed, altered and ticketless requests, audits them, and runs nothing', async () => {
    const before = await count();
    const forger = signingKeyFromPem(generateTicketKeyPair().privatePem);
    const forged = ticket('DELETE FROM items', {}, { ...forger, kid: signing.kid });
    expect(await codeOf(pipeline.execute(forged))).toBe('TICKET_INVALID');
    const now = Math.floor(Date.now() / 1000);
    expect(await codeOf(pipeline.execute(ticket('DELETE FROM items', { iat: now - 100, exp: now - 50 })))).toBe('TICKET_EXPIRED');
    const once = ticket('SELECT 1');
    await pipeline.execute(once);
    expect(await codeOf(pipeline.execute(once))).toBe('TICKET_REPLAYED');
    const altered = ticket('SELECT 1');
    expect(await codeOf(pipeline.execute({ ...altered, body: 'DELETE FROM items' }))).toBe('BODY_MISMATCH');
    expect(await codeOf(pipeline.execute({ body: 'DELETE FROM items' }))).toBe('TICKET_INVALID');
    expect(await codeOf(pipeline.execute(ticket('SELECT 1', { connection: { name: 'other', type: 'postgres' } })))).toBe('CONNECTION_UNKNOWN');
    expect(await count()).toBe(before);
    expect(sink.of(once.runId)).toEqual(['audit.run.started:', 'audit.run.completed:succeeded', 'audit.run.failed:refused:TICKET_REPLAYED']);
    expect(sink.of(altered.runId)).toEqual(['audit.run.failed:refused:BODY_MISMATCH']);
    const anonymous = sink.events.filter((e) => !e.runId && e.outcome?.status === 'refused').map((e) => e.outcome?.errorCode);
    expect(anonymous).toEqual(expect.arrayContaining(['TICKET_INVALID', 'TICKET_EXPIRED']));
  });

  it('runs nothing when the audit stream does not acknowledge the start', async () => {
    const before = await count();
    sink.failNext = true;
    expect(await codeOf(pipeline.execute(ticket('DELETE FROM items')))).toBe('AUDIT_UNAVAILABLE');
    expect(await count()).toBe(before);
  });

  it('reports an unreachable target without its credentials', async () => {
    const request = ticket('SELECT 1', { connection: { name: 'down', type: 'postgres' } });
    let message = '';
    try {
      await pipeline.execute(request);
    } catch (error) {
      expect((error as RungateError).code).toBe('TARGET_UNAVAILABLE');
      message = (error as Error).message;
    }
    expect(message).toMatch(/cannot connect to down/);
    expect(message).not.toContain('secret-pw');
    expect(JSON.stringify(sink.events)).not.toContain('secret-pw');
    expect(sink.of(request.runId)).toEqual(['audit.run.started:', 'audit.run.failed:failed:TARGET_UNAVAILABLE']);
  });
});
