import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { createRunbookRepository, createTestDatabase, eventually, freePort, RUNGATE_BIN, serviceArgs, startProcess, type TestDatabase } from '@rungate/testing';
import { Client as PgClient } from 'pg';
import { TRANSPORTS, catalogClient, mcpClient, newToken, resultText as text, startStack, type CallResult, type Stack } from './support/stack';

const GET_USER = `-- @description Look up a user by id
-- @readonly
SELECT user_id, email FROM users WHERE user_id = {{ .user_id | type "number" | required "User ID is required" }};
`;
const UPDATE_EMAIL = `-- @description Re-point a user's e-mail address
UPDATE users
SET email = '{{ .email | required "New email is required" | type "email" }}'
WHERE user_id = {{ .user_id | type "number" | required "User ID is required" }};
`;

// One suite, two transports: a process per service over NATS, and `rungate serve` in one process.
describe.each(TRANSPORTS)('the first runbook call over %s: MCP → gateway → policy → executor → audit', (transport) => {
  let target: TestDatabase;
  let auditDb: TestDatabase;
  let stack: Stack;
  let client: Client;
  let commit: string;
  const alice = newToken();
  const mallory = newToken();
  const ines = newToken();

  beforeAll(async () => {
    target = await createTestDatabase('rge2e_target');
    auditDb = await createTestDatabase('rge2e_audit');
    const db = new PgClient({ connectionString: target.url });
    await db.connect();
    await db.query(`CREATE TABLE users (user_id int PRIMARY KEY, email text NOT NULL);
                    INSERT INTO users VALUES (1, 'ada@example.com'), (2, 'grace@example.com');`);
    await db.end();
    const repo = createRunbookRepository({
      'postgres/get_user.runbook.sql': GET_USER,
      'postgres/update_email.runbook.sql': UPDATE_EMAIL,
      'admin/drop_everything.runbook.sql': 'DROP SCHEMA public CASCADE;\n',
    });
    commit = repo.commit({ 'README.md': 'runbooks\n' }, 'docs');
    stack = await startStack({
      transport,
      env: { APP_DB_URL: target.url, DOWN_DB_URL: `postgres://postgres@127.0.0.1:${await freePort()}/none`, DATABASE_URL: auditDb.url },
      config: () => `
repositories:
  - name: demo
    url: ${repo.dir}
    pollInterval: 1s
connections:
  - name: app-db
    type: postgres
    url: env:APP_DB_URL
  - name: down-db
    type: postgres
    url: env:DOWN_DB_URL
users:
  - name: alice@example.com
    groups: [engineering]
  - name: mallory@example.com
    groups: [sales]
  - name: ines@example.com
    groups: [auditors]
tokens:
  - sha256: "${alice.sha256}"
    user: alice@example.com
    agent: claude-code
  - sha256: "${mallory.sha256}"
    user: mallory@example.com
    agent: rogue-bot
  - sha256: "${ines.sha256}"
    user: ines@example.com
    agent: audit-cli
    scopes: [audit:read]
rules:
  - name: engineering-postgres
    groups: [engineering]
    connections: [app-db, down-db]
    runbooks: ["demo/postgres/**"]
`,
    });
    client = await catalogClient(stack, alice.token);
  });

  afterAll(async () => {
    await client?.close();
    await stack?.stop();
    await target?.drop();
    await auditDb?.drop();
  });

  it('lists one tool per runbook the caller may run, with an input schema from its parameters', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['demo.postgres.get_user', 'demo.postgres.update_email']);
    const getUser = tools.find((t) => t.name === 'demo.postgres.get_user');
    expect(getUser?.description).toContain('Look up a user by id');
    expect(getUser?.annotations).toMatchObject({ readOnlyHint: true });
    expect(getUser?.inputSchema.properties).toHaveProperty('user_id');
    expect(getUser?.inputSchema.required).toEqual(expect.arrayContaining(['user_id', 'connection']));
    expect(getUser?.inputSchema.properties?.['connection']).toMatchObject({ enum: ['app-db', 'down-db'] });
  });

  it('shows another user only what their rules allow: nothing, and calls of unseen tools look like unknown tools', async () => {
    const other = await mcpClient(stack.gatewayUrl, mallory.token);
    expect((await other.listTools()).tools).toEqual([]);
    await expect(other.callTool({ name: 'demo.postgres.get_user', arguments: { user_id: 1, connection: 'app-db' } })).rejects.toThrow(
      'Unknown tool: demo.postgres.get_user',
    );
    await other.close();
  });

  it('refuses a visible tool on a connection no rule allows, naming the rule family', async () => {
    const result = (await client.callTool({ name: 'demo.postgres.get_user', arguments: { user_id: 1, connection: 'elsewhere' } })) as CallResult;
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^FORBIDDEN: you may not run demo.postgres.get_user on connection elsewhere/);
    expect(result.structuredContent).toEqual({ code: 'FORBIDDEN', message: expect.stringMatching(/^you may not run demo.postgres.get_user on connection elsewhere/) });
  });

  it('runs a runbook and returns rows as text and structured content', async () => {
    const result = (await client.callTool({ name: 'demo.postgres.get_user', arguments: { user_id: 1, connection: 'app-db' } })) as CallResult;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      kind: 'sql',
      rows: [{ user_id: 1, email: 'ada@example.com' }],
      rowCount: 1,
      truncated: false,
    });
    expect(text(result)).toContain('ada@example.com');
  });

  it('writes exactly the reviewed shape, whatever the value', async () => {
    const email = "o'neil+x@example.com";
    const result = (await client.callTool({
      name: 'demo.postgres.update_email',
      arguments: { user_id: 2, email, connection: 'app-db' },
    })) as CallResult;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ statements: [{ command: 'UPDATE', rowCount: 1 }] });
    const db = new PgClient({ connectionString: target.url });
    await db.connect();
    const { rows } = await db.query('SELECT user_id, email FROM users ORDER BY user_id');
    await db.end();
    expect(rows).toEqual([
      { user_id: 1, email: 'ada@example.com' },
      { user_id: 2, email },
    ]);
  });

  it('answers an invalid parameter with an error naming the parameter and the constraint', async () => {
    const result = (await client.callTool({ name: 'demo.postgres.get_user', arguments: { user_id: '1; DROP TABLE users', connection: 'app-db' } })) as CallResult;
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/INVALID_PARAMS/);
    expect(text(result)).toMatch(/user_id/);
    expect(text(result)).toMatch(/number/);
    expect(result.structuredContent).toEqual({ code: 'INVALID_PARAMS', message: expect.stringMatching(/user_id/) });
  });

  it('answers an unknown tool with an MCP error', async () => {
    await expect(client.callTool({ name: 'demo.postgres.nope', arguments: {} })).rejects.toThrow(McpError);
    await expect(client.callTool({ name: 'demo.admin.drop_everything', arguments: {} })).rejects.toThrow('Unknown tool: demo.admin.drop_everything');
    await expect(client.callTool({ name: 'demo.postgres.nope', arguments: {} })).rejects.toMatchObject({ code: -32602, data: { code: 'UNKNOWN_TOOL' } });
  });

  it('answers the audit API with the HTTP status of each error code, and the code in the body', async () => {
    const get = async (path: string, token?: string) => {
      const res = await fetch(`${stack.auditApiUrl}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      return { status: res.status, body: (await res.json()) as unknown };
    };
    expect(await get('/audit/events')).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
    expect(await get('/audit/events', alice.token)).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    expect(await get('/audit/events?limit=many', ines.token)).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
    expect(await get(`/audit/sessions/ses_${'0'.repeat(24)}`, ines.token)).toMatchObject({ status: 404, body: { error: { code: 'SESSION_NOT_FOUND' } } });
  });

  it('refuses a missing or unknown bearer with 401 and WWW-Authenticate', async () => {
    const request = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
    const attempts: Record<string, string>[] = [{}, { Authorization: 'Bearer rg_unknown-token-value' }, { Authorization: 'Basic abc' }];
    for (const headers of attempts) {
      const res = await fetch(`${stack.gatewayUrl}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify(request),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    }
  });

  it('answers malformed JSON-RPC with a JSON-RPC error and stays up', async () => {
    const post = (body: string) =>
      fetch(`${stack.gatewayUrl}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', Authorization: `Bearer ${alice.token}` },
        body,
      });
    const broken = await post('{"jsonrpc": "2.0", "method": tools/list');
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 } });
    const notRpc = await post('{"hello": "world"}');
    expect(notRpc.status).toBeGreaterThanOrEqual(400);
    expect(await notRpc.json()).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) } });
    const tooBig = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { pad: 'x'.repeat(2 * 1024 * 1024) } }));
    expect(tooBig.status).toBe(413);
    expect((await client.listTools()).tools.length).toBe(2);
  });

  it('reports an unreachable target clearly and audits the run as failed', async () => {
    const result = (await client.callTool({ name: 'demo.postgres.get_user', arguments: { user_id: 1, connection: 'down-db' } })) as CallResult;
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/TARGET_UNAVAILABLE/);
    expect(text(result)).not.toMatch(/postgres:\/\//);
    expect(result.structuredContent).toMatchObject({ code: 'TARGET_UNAVAILABLE' });
  });

  it('records every call in the audit table: user, agent, runbook at its commit, connection, parameters, outcome, duration', async () => {
    const db = new PgClient({ connectionString: auditDb.url });
    await db.connect();
    try {
      const completed = await eventually(async () => {
        const { rows } = await db.query(
          `SELECT * FROM audit_events WHERE type = 'audit.run.completed' AND path = 'postgres/get_user.runbook.sql' AND connection_name = 'app-db'`,
        );
        if (rows.length === 0) throw new Error('no completed run in the audit table yet');
        return rows[0];
      });
      expect(completed).toMatchObject({
        actor_user: 'alice@example.com',
        actor_agent: 'claude-code',
        repository: 'demo',
        commit,
        connection_name: 'app-db',
        connection_type: 'postgres',
        outcome_status: 'succeeded',
      });
      expect(completed.params).toEqual({ user_id: '1' });
      expect(Number(completed.duration_ms)).toBeGreaterThanOrEqual(0);
      const { rows: runEvents } = await db.query('SELECT type FROM audit_events WHERE run_id = $1 ORDER BY seq', [completed.run_id]);
      expect(runEvents.map((r) => r.type)).toEqual(['audit.run.decided', 'audit.run.started', 'audit.run.completed']);
      const failed = await eventually(async () => {
        const { rows } = await db.query(`SELECT * FROM audit_events WHERE type = 'audit.run.failed' AND connection_name = 'down-db'`);
        if (rows.length === 0) throw new Error('no failed run yet');
        return rows[0];
      });
      expect(failed.outcome_status).toBe('failed');
      const denied = await db.query(`SELECT * FROM audit_events WHERE actor_user = 'alice@example.com' AND decision_effect = 'deny'`);
      expect(denied.rows.map((r) => r.decision_reason)).toEqual(expect.arrayContaining([expect.stringMatching(/user_id/)]));
    } finally {
      await db.end();
    }
  });

  it('accepts agent tokens made with `rungate token create`, until they expire or are revoked', async () => {
    const cli = (...args: string[]) => {
      const proc = startProcess('cli', process.execPath, [RUNGATE_BIN, 'token', ...args], stack.env);
      return proc.exited.then((code) => ({ code, output: proc.output() }));
    };
    const created = await cli('create', '--user', 'alice@example.com', '--agent', 'cursor', '--ttl', '1h', '--runbooks', 'demo/postgres/get_*');
    expect(created.code).toBe(0);
    const token = /^(rg_[A-Za-z0-9_-]{43})$/m.exec(created.output)?.[1] as string;
    expect(token).toBeDefined();
    const scoped = await mcpClient(stack.gatewayUrl, token);
    expect((await scoped.listTools()).tools.map((t) => t.name)).toEqual(['demo.postgres.get_user']);
    const id = /created (tok_[0-9a-f]+)/.exec(created.output)?.[1] as string;
    expect((await cli('list')).output).toMatch(new RegExp(`${id}\\s+active\\s+alice@example.com\\s+cursor`));
    expect((await cli('revoke', id)).code).toBe(0);
    const afterRevoke = await fetch(`${stack.gatewayUrl}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    expect(afterRevoke.status).toBe(401);
    expect(afterRevoke.headers.get('www-authenticate')).toMatch(/error_description="unknown or revoked token|token revoked"/);
    const short = await cli('create', '--user', 'alice@example.com', '--agent', 'brief', '--ttl', '1s');
    const shortToken = /^(rg_[A-Za-z0-9_-]{43})$/m.exec(short.output)?.[1] as string;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const expired = await fetch(`${stack.gatewayUrl}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', Authorization: `Bearer ${shortToken}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toContain('token expired');
    await scoped.close();
  });

  it('exits non-zero on a bad rungate.yaml, naming the key at fault', async () => {
    const bad = join(stack.configFile, '..', 'bad.yaml');
    writeFileSync(bad, 'repositories:\n  - name: demo\n    url: /tmp\nconnections:\n  - name: db\n    type: postgres\n    url: postgres://user:secret@db/x\n');
    const command = transport === 'nats' ? serviceArgs('policy') : [RUNGATE_BIN, 'serve', '--config', bad];
    const proc = startProcess('bad-config', process.execPath, command, { ...stack.env, RUNGATE_CONFIG: bad });
    const code = await proc.exited;
    expect(code).not.toBe(0);
    expect(proc.output()).toContain('connections[0].url');
    expect(proc.output()).not.toContain('secret@db');
  });
});
