import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { AUDIT_STREAM } from '@rungate/contracts';
import { AUDIT_STREAM_CONFIG, connectNats } from '@rungate/messaging';
import { createRunbookRepository, createTestDatabase, eventually, type TestDatabase } from '@rungate/testing';
import type { NatsConnection } from 'nats';
import { Client as PgClient } from 'pg';
import { PrivateNatsServer } from '../libs/audit-sinks/src/testing/nats-server';
import { catalogClient, newToken, startStack, type Stack } from './support/stack';

const MARK = `-- @description Records a mark in the target database
INSERT INTO marks (note) VALUES ('{{ .note | required "a note" }}');
`;

type CallResult = { isError?: boolean; content: { type: string; text?: string }[] };
const text = (result: CallResult) => result.content.map((c) => c.text ?? '').join('\n');

/**
 * Write-ahead, fail closed (docs/design.md §2, §3): policy's decision and the executor's start are
 * acknowledged by JetStream before anything runs. The stack runs on a NATS server of this
 * test's own, whose AUDIT stream it may delete and whose process it may stop; the target
 * database shows whether anything ran.
 */
describe('with the audit stream unavailable, nothing runs', () => {
  const nats = new PrivateNatsServer();
  let target: TestDatabase;
  let auditDb: TestDatabase;
  let stack: Stack;
  let client: Client;
  let nc: NatsConnection;
  const alice = newToken();

  beforeAll(async () => {
    await nats.start();
    target = await createTestDatabase('rgfailclosed_target');
    auditDb = await createTestDatabase('rgfailclosed_audit');
    const db = new PgClient({ connectionString: target.url });
    await db.connect();
    await db.query('CREATE TABLE marks (id serial PRIMARY KEY, note text NOT NULL)');
    await db.end();
    const repo = createRunbookRepository({ 'pg/mark.runbook.sql': MARK });
    stack = await startStack({
      env: { NATS_URL: nats.url, FAIL_CLOSED_DB_URL: target.url, DATABASE_URL: auditDb.url },
      config: () => `
repositories: [{ name: fc, url: ${repo.dir} }]
connections: [{ name: app-db, type: postgres, url: env:FAIL_CLOSED_DB_URL }]
users: [{ name: alice@example.com, groups: [engineering] }]
tokens: [{ sha256: "${alice.sha256}", user: alice@example.com, agent: claude-code }]
rules: [{ name: engineering, groups: [engineering], connections: [app-db], runbooks: ["fc/**"] }]
`,
    });
    nc = await connectNats({ url: nats.url, name: 'fail-closed-e2e' });
    client = await catalogClient(stack, alice.token);
  });

  afterAll(async () => {
    await client?.close();
    await nc?.close();
    await stack?.stop();
    await nats.stop();
    await target?.drop();
    await auditDb?.drop();
  });

  async function marks(): Promise<string[]> {
    const db = new PgClient({ connectionString: target.url });
    await db.connect();
    try {
      return (await db.query('SELECT note FROM marks ORDER BY id')).rows.map((r: { note: string }) => r.note);
    } finally {
      await db.end();
    }
  }

  const mark = (note: string) => client.callTool({ name: 'fc.pg.mark', arguments: { note, connection: 'app-db' } }) as Promise<CallResult>;

  it('runs while the stream takes events', async () => {
    const before = await marks();
    const result = await mark('ok');
    expect(result.isError).toBeFalsy();
    expect(await marks()).toEqual([...before, 'ok']);
  });

  it("refuses the call when policy's decision cannot be audited (the stream is gone)", async () => {
    const jsm = await nc.jetstreamManager();
    const { config } = await jsm.streams.info(AUDIT_STREAM);
    const before = await marks();
    await jsm.streams.delete(AUDIT_STREAM);
    try {
      const result = await mark('no-stream');
      expect(result.isError).toBe(true);
      expect(text(result)).toMatch(/^AUDIT_UNAVAILABLE: the audit stream did not acknowledge audit\.run\.decided; nothing was executed/);
      expect(await marks()).toEqual(before);
    } finally {
      await jsm.streams.add({ ...config });
    }
  });

  it("refuses the run when the executor's start cannot be audited, though policy's decision was", async () => {
    const jsm = await nc.jetstreamManager();
    const before = await marks();
    await jsm.streams.delete(AUDIT_STREAM);
    // A stream that stores decisions but nothing an executor publishes.
    await jsm.streams.add({ ...AUDIT_STREAM_CONFIG, subjects: ['audit.run.decided'] });
    try {
      const result = await mark('no-start');
      expect(result.isError).toBe(true);
      expect(text(result)).toMatch(/^AUDIT_UNAVAILABLE: the audit stream did not acknowledge audit\.run\.started; nothing was executed/);
      expect(await marks()).toEqual(before);
      const { state } = await jsm.streams.info(AUDIT_STREAM);
      expect(state.messages).toBeGreaterThanOrEqual(1);
    } finally {
      await jsm.streams.delete(AUDIT_STREAM);
      await jsm.streams.add(AUDIT_STREAM_CONFIG);
    }
  });

  it('refuses calls while the NATS server is down, and runs again once it is back', async () => {
    const before = await marks();
    await nats.halt();
    try {
      // Nothing can even be authenticated: the gateway answers 503 rather than guess.
      await expect(mark('nats-down')).rejects.toThrow(/temporarily_unavailable.*the gateway cannot verify tokens right now; retry shortly/);
      expect(await marks()).toEqual(before);
    } finally {
      await nats.start();
    }
    const again = await eventually(async () => {
      const result = await mark('after');
      if (result.isError) throw new Error(text(result));
      return result;
    }, 30_000);
    expect(again.isError).toBeFalsy();
    expect(await marks()).toEqual([...before, 'after']);
  });
});
