import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { EmptyResultSchema, ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { createRunbookRepository, createTestDatabase, eventually, type TestDatabase } from '@rungate/testing';
import { Client as PgClient } from 'pg';
import { TRANSPORTS, catalogClient, mcpClient, newToken, resultText as text, startStack, type CallResult, type Stack } from './support/stack';

/** Writes a row, then waits: a run stopped part-way leaves the row uncommitted and the target idle. */
const SLOW_MARK = `-- @description Mark, then wait
-- @timeout 60s
INSERT INTO marks (label) VALUES ('{{ .label | required "label is required" }}');
SELECT pg_sleep({{ .seconds | type "number" | required "seconds is required" }});
`;
/** Longer than any test waits for it: only a cancel or a timeout ends it early. */
const LONG_SECONDS = 45;
/** Every tools/call in this stack ends within this (gateway.callTimeout). */
const CALL_TIMEOUT_S = 6;

describe.each(TRANSPORTS)('the MCP edge over %s: JSON-RPC answers, cancellation and the call time limit', (transport) => {
  let target: TestDatabase;
  let auditDb: TestDatabase;
  let stack: Stack;
  let client: Client;
  const alice = newToken();
  const mallory = newToken();
  let db: PgClient;
  let audit: PgClient;

  const post = (body: unknown, token = alice.token, headers: Record<string, string> = {}) =>
    fetch(`${stack.gatewayUrl}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', Authorization: `Bearer ${token}`, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const callSlowMark = (id: string | number, label: string, seconds = LONG_SECONDS) =>
    post({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'edge.postgres.slow_mark', arguments: { label, seconds, connection: 'app-db' } } });

  /** The backend running a run's pg_sleep, while it runs. */
  async function sleepingBackends(seconds: number): Promise<number> {
    const { rows } = await db.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()`,
      [`%pg_sleep(${seconds})%`],
    );
    return (rows[0] as { n: number }).n;
  }
  const isSleeping = (seconds: number) =>
    eventually(async () => {
      if ((await sleepingBackends(seconds)) === 0) throw new Error(`no backend runs pg_sleep(${seconds}) yet`);
    });
  const stoppedSleeping = (seconds: number) =>
    eventually(async () => {
      if ((await sleepingBackends(seconds)) !== 0) throw new Error(`pg_sleep(${seconds}) still runs on the target`);
    });

  async function marks(label: string): Promise<number> {
    const { rows } = await db.query('SELECT count(*)::int AS n FROM marks WHERE label = $1', [label]);
    return (rows[0] as { n: number }).n;
  }

  /** The run's events in the audit table, once its terminal event is there. */
  function auditedRun(label: string): Promise<{ type: string; outcome_status: string | null; error_code: string | null; source: string }[]> {
    return eventually(async () => {
      const { rows } = await audit.query(
        `SELECT type, outcome_status, error_code, source FROM audit_events
          WHERE run_id = (SELECT run_id FROM audit_events WHERE params->>'label' = $1 LIMIT 1) ORDER BY seq`,
        [label],
      );
      if (!rows.some((r) => r.type === 'audit.run.failed' || r.type === 'audit.run.completed')) throw new Error(`run ${label} has no outcome yet: ${JSON.stringify(rows)}`);
      return rows;
    });
  }

  beforeAll(async () => {
    target = await createTestDatabase('rge2e_edge_target');
    auditDb = await createTestDatabase('rge2e_edge_audit');
    db = new PgClient({ connectionString: target.url });
    await db.connect();
    await db.query('CREATE TABLE marks (label text NOT NULL)');
    const repo = createRunbookRepository({ 'postgres/slow_mark.runbook.sql': SLOW_MARK });
    stack = await startStack({
      transport,
      env: { APP_DB_URL: target.url, DATABASE_URL: auditDb.url },
      gateway: { callTimeout: `${CALL_TIMEOUT_S}s` },
      config: () => `
repositories:
  - name: edge
    url: ${repo.dir}
connections:
  - name: app-db
    type: postgres
    url: env:APP_DB_URL
users:
  - name: alice@example.com
    groups: [engineering]
  - name: mallory@example.com
    groups: [engineering]
tokens:
  - sha256: "${alice.sha256}"
    user: alice@example.com
    agent: claude-code
  - sha256: "${mallory.sha256}"
    user: mallory@example.com
    agent: rogue-bot
rules:
  - name: engineering-postgres
    groups: [engineering]
    connections: [app-db]
    runbooks: ["edge/postgres/**"]
`,
    });
    client = await catalogClient(stack, alice.token);
    audit = new PgClient({ connectionString: auditDb.url });
    await audit.connect();
  });

  afterAll(async () => {
    await client?.close();
    await stack?.stop();
    await db?.end();
    await audit?.end();
    await target?.drop();
    await auditDb?.drop();
  });

  describe('standard answers', () => {
    it('answers ping with an empty result', async () => {
      await expect(client.ping()).resolves.toEqual({});
    });

    it('answers resources/list, prompts/list and unknown methods with Method not found, as the SDK does for undeclared capabilities', async () => {
      for (const call of [() => client.listResources(), () => client.listPrompts(), () => client.request({ method: 'no/such-method' }, EmptyResultSchema)]) {
        await expect(call()).rejects.toMatchObject({ code: ErrorCode.MethodNotFound });
      }
      const raw = await post({ jsonrpc: '2.0', id: 'r1', method: 'resources/list' });
      expect(raw.status).toBe(200);
      expect(await raw.json()).toEqual({ jsonrpc: '2.0', id: 'r1', error: { code: -32601, message: 'Method not found' } });
    });

    it('answers tools/call with non-object arguments with -32602 and a short message, over the SDK and raw HTTP', async () => {
      const sdk = await client.callTool({ name: 'edge.postgres.slow_mark', arguments: 'label=x' as unknown as Record<string, unknown> }).catch((error: unknown) => error);
      expect(sdk).toBeInstanceOf(McpError);
      expect(sdk).toMatchObject({ code: ErrorCode.InvalidParams });
      for (const params of [{ name: 'edge.postgres.slow_mark', arguments: 'label=x' }, { name: 'edge.postgres.slow_mark', arguments: [1, 2] }, { arguments: {} }]) {
        const res = await post({ jsonrpc: '2.0', id: 7, method: 'tools/call', params });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { id: unknown; error: { code: number; message: string } };
        expect(body).toMatchObject({ jsonrpc: '2.0', id: 7, error: { code: -32602 } });
        expect(body.error.message).toMatch(/^Invalid params for tools\/call: (arguments|name): /);
        expect(body.error.message.length).toBeLessThan(160);
        expect(body.error.message).not.toMatch(/[[{]/);
      }
    });

    it('answers a malformed JSON-RPC envelope with -32600, never -32603', async () => {
      for (const envelope of [{ hello: 'world' }, { jsonrpc: '1.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', id: { no: 1 }, method: 'ping' }, { jsonrpc: '2.0', id: 1, method: 5 }, [{ jsonrpc: '2.0', id: 1, method: 'ping' }]]) {
        const res = await post(envelope);
        expect(res.status).toBe(400);
        const body = (await res.json()) as { error: { code: number; message: string } };
        expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } });
        expect(body.error.message).toMatch(/^Invalid Request: /);
      }
    });

    it('answers an initialize without its required fields with -32602', async () => {
      const res = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: {} });
      expect(await res.json()).toMatchObject({ id: 0, error: { code: -32602, message: expect.stringMatching(/^Invalid params for initialize: /) } });
    });

    it('gives each initialize its own session id, which ties a later cancellation to that client', async () => {
      const initialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
      const [first, second] = [await post(initialize), await post(initialize)];
      expect(await first.json()).toMatchObject({ id: 0, result: { serverInfo: { name: 'rungate' } } });
      const ids = [first.headers.get('mcp-session-id'), second.headers.get('mcp-session-id')];
      expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
      expect(ids[1]).not.toBe(ids[0]);
    });
  });

  describe('cancellation', () => {
    it('stops the run on the target when the SDK client cancels the call, and audits it as cancelled', async () => {
      const label = `sdk-cancel-${transport}`;
      const abort = new AbortController();
      const call = client.callTool({ name: 'edge.postgres.slow_mark', arguments: { label, seconds: LONG_SECONDS, connection: 'app-db' } }, undefined, { signal: abort.signal });
      await isSleeping(LONG_SECONDS);
      abort.abort('the user pressed stop');
      await expect(call).rejects.toThrow(/the user pressed stop/);
      await stoppedSleeping(LONG_SECONDS);
      const events = await auditedRun(label);
      expect(events.map((e) => e.type)).toEqual(['audit.run.decided', 'audit.run.started', 'audit.run.failed']);
      expect(events[2]).toMatchObject({ outcome_status: 'cancelled', error_code: 'CANCELLED', source: 'executor-postgres' });
      expect(await marks(label)).toBe(0);
      // The client goes on working after its cancel.
      expect((await client.listTools()).tools.length).toBe(1);
    });

    it('sends no response for a cancelled request: its POST ends as an empty event stream', async () => {
      const label = `raw-cancel-${transport}`;
      const answer = callSlowMark('raw-1', label, LONG_SECONDS - 1);
      await isSleeping(LONG_SECONDS - 1);
      const cancel = await post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'raw-1', reason: 'changed my mind' } });
      expect(cancel.status).toBe(202);
      const res = await answer;
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(await res.text()).toBe('');
      await stoppedSleeping(LONG_SECONDS - 1);
      expect((await auditedRun(label)).at(-1)).toMatchObject({ outcome_status: 'cancelled' });
    });

    it('lets only the caller cancel their own request: another token cancelling the same id changes nothing', async () => {
      const label = `not-yours-${transport}`;
      const answer = callSlowMark('shared-id', label, 3);
      await isSleeping(3);
      const cancel = await post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'shared-id' } }, mallory.token);
      expect(cancel.status).toBe(202);
      const res = await answer;
      expect(await res.json()).toMatchObject({ id: 'shared-id', result: { isError: false, structuredContent: { kind: 'sql' } } });
      expect(await marks(label)).toBe(1);
      expect((await auditedRun(label)).at(-1)).toMatchObject({ type: 'audit.run.completed', outcome_status: 'succeeded' });
    });

    it('stops the run when the client goes away mid-call (its HTTP connection closes)', async () => {
      const label = `disconnect-${transport}`;
      const leaving = await mcpClient(stack.gatewayUrl, alice.token);
      const call = leaving.callTool({ name: 'edge.postgres.slow_mark', arguments: { label, seconds: LONG_SECONDS - 2, connection: 'app-db' } });
      call.catch(() => undefined);
      await isSleeping(LONG_SECONDS - 2);
      await leaving.close();
      await stoppedSleeping(LONG_SECONDS - 2);
      expect((await auditedRun(label)).at(-1)).toMatchObject({ type: 'audit.run.failed', outcome_status: 'cancelled', error_code: 'CANCELLED' });
      expect(await marks(label)).toBe(0);
    });
  });

  describe('gateway.callTimeout', () => {
    it('ends a call that outlives it with a TIMEOUT result, stops the run on the target and audits it as timed_out', async () => {
      const label = `timeout-${transport}`;
      const result = (await client.callTool({ name: 'edge.postgres.slow_mark', arguments: { label, seconds: LONG_SECONDS - 3, connection: 'app-db' } })) as CallResult;
      expect(result.isError).toBe(true);
      expect(text(result)).toMatch(new RegExp(`^TIMEOUT: run \\S+ was stopped because its call exceeded the gateway's time limit of ${CALL_TIMEOUT_S * 1000} ms \\(gateway.callTimeout\\)`));
      await stoppedSleeping(LONG_SECONDS - 3);
      const events = await auditedRun(label);
      expect(events.map((e) => e.type)).toEqual(['audit.run.decided', 'audit.run.started', 'audit.run.failed']);
      expect(events[2]).toMatchObject({ outcome_status: 'timed_out', error_code: 'TIMEOUT' });
      expect(await marks(label)).toBe(0);
    });
  });
});
