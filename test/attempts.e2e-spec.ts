import { createHash, randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { RUNGATE_BIN, createRunbookRepository, createTestDatabase, eventually, startProcess, type TestDatabase } from '@rungate/testing';
import { Client as PgClient } from 'pg';
import { TRANSPORTS, catalogClient, mcpClient, newToken, startStack, type Stack } from './support/stack';

const GET_ORDER = `-- @description One order
-- @readonly
SELECT {{ .order_id | type "number" | required "order_id is required" }} AS id;
`;
const SECRET = `-- @description Only for DBAs
SELECT 1;
`;
const UPTIME = `# @description Uptime of the executor host
uptime
`;
/** Attempt events a token may leave per window before they are counted instead (audit.attemptLimit). */
const EVENTS_PER_WINDOW = 20;
const FLOOD = 1000;
/** Failed bearer tokens from one source before it gets 429 (gateway.authFailureLimit). */
const AUTH_FAILURES = 8;

type CallResult = { isError?: boolean; content: { type: string; text?: string }[] };
const text = (result: unknown) => (result as CallResult).content.map((c) => c.text ?? '').join('\n');

interface AttemptRow {
  seq: string;
  type: string;
  source: string;
  tool: string | null;
  actor_user: string | null;
  actor_ip: string | null;
  outcome_status: string | null;
  error_code: string | null;
  connection_name: string | null;
  event: {
    actor?: { user: string; agent?: string; tokenId?: string; ip?: string; userAgent?: string };
    outcome?: { status: string; errorCode?: string; error?: string };
    details?: Record<string, unknown>;
  };
}

/**
 * Issue 15: every attempt is on the record once — unknown and hidden tools, a forbidden
 * connection, a refused dryRun, invalid parameters, malformed JSON-RPC, failed bearer tokens,
 * policy unreachable — as `audit.attempt.denied` with the actor, the tool as requested, a code
 * and a reason, while the MCP answers of unknown and hidden tools stay identical; a flood is
 * counted (`audit.attempt.suppressed`) instead of recorded one by one. Both ways of running,
 * the real MCP SDK client, the audit table in PostgreSQL.
 */
describe.each(TRANSPORTS)('attempts over %s', (transport) => {
  const TAG = randomBytes(3).toString('hex');
  const ALICE = `alice-${TAG}@example.com`;
  const FLOODER = `flooder-${TAG}@example.com`;
  const alice = newToken();
  const flooder = newToken();
  let target: TestDatabase;
  let auditDb: TestDatabase;
  let stack: Stack;
  let client: Client;
  let audit: PgClient;

  /** `token` null: no Authorization header. */
  const post = (body: unknown, token: string | null = alice.token, headers: Record<string, string> = {}) =>
    fetch(`${stack.gatewayUrl}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'user-agent': `attempts-e2e/${TAG}`,
        ...(token === null ? {} : { Authorization: `Bearer ${token}` }),
        ...headers,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  async function attempts(where: string, params: unknown[]): Promise<AttemptRow[]> {
    const { rows } = await audit.query(`SELECT seq, type, source, tool, actor_user, actor_ip, outcome_status, error_code, connection_name, event FROM audit_events WHERE ${where} ORDER BY seq`, params);
    return rows as AttemptRow[];
  }
  /** The attempts of one user on one tool, once `count` of them are stored. */
  const attemptsOn = (user: string, tool: string, count: number) =>
    eventually(async () => {
      const rows = await attempts(`actor_user = $1 AND tool = $2 AND type LIKE 'audit.attempt.%'`, [user, tool]);
      if (rows.length < count) throw new Error(`${rows.length} of ${count} attempts on ${tool} stored`);
      return rows;
    });

  beforeAll(async () => {
    target = await createTestDatabase('rge2e_attempts_target');
    auditDb = await createTestDatabase('rge2e_attempts_audit');
    const repo = createRunbookRepository({
      'postgres/get_order.runbook.sql': GET_ORDER,
      'postgres/secret.runbook.sql': SECRET,
      'shell/uptime.runbook.sh': UPTIME,
    });
    stack = await startStack({
      transport,
      env: { APP_DB_URL: target.url, DATABASE_URL: auditDb.url },
      gateway: { maxBodyBytes: 4096, authFailureLimit: `{ failures: ${AUTH_FAILURES}, window: 10m }` },
      audit: { attemptLimit: `{ events: ${EVENTS_PER_WINDOW}, window: 5s }` },
      config: () => `
repositories:
  - name: att
    url: ${repo.dir}
connections:
  - { name: app-db, type: postgres, url: env:APP_DB_URL }
  - { name: other-db, type: postgres, url: env:APP_DB_URL }
  - { name: box, type: shell }
users:
  - { name: ${ALICE}, groups: [engineering] }
  - { name: ${FLOODER}, groups: [engineering] }
tokens:
  - { sha256: "${alice.sha256}", user: ${ALICE}, agent: claude-code }
  - { sha256: "${flooder.sha256}", user: ${FLOODER}, agent: probe-bot }
rules:
  - { name: engineering-orders, groups: [engineering], connections: [app-db], runbooks: ["att/postgres/get_order*"] }
  - { name: engineering-box, groups: [engineering], connections: [box], runbooks: ["att/shell/**"] }
  - { name: dba-secret, groups: [dba], connections: [app-db, other-db], runbooks: ["att/postgres/secret*"] }
`,
    });
    client = await catalogClient(stack, alice.token, 2);
    audit = new PgClient({ connectionString: auditDb.url });
    await audit.connect();
  });

  afterAll(async () => {
    await client?.close();
    await stack?.stop();
    await audit?.end();
    await target?.drop();
    await auditDb?.drop();
  });

  it('answers an unknown and a hidden tool identically, and records each with its real reason', async () => {
    const call = (name: string) => post({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: {} } });
    const hidden = await call('att.postgres.secret');
    const unknown = await call('att.postgres.no_such');
    const [hiddenBody, unknownBody] = [await hidden.text(), await unknown.text()];
    expect({ status: hidden.status, type: hidden.headers.get('content-type'), body: hiddenBody.replace('att.postgres.secret', '<tool>') }).toEqual({
      status: unknown.status,
      type: unknown.headers.get('content-type'),
      body: unknownBody.replace('att.postgres.no_such', '<tool>'),
    });
    for (const name of ['att.postgres.secret', 'att.postgres.no_such']) {
      const refused = await client.callTool({ name, arguments: {} }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(McpError);
      expect(refused).toMatchObject({ code: ErrorCode.InvalidParams });
      expect((refused as McpError).message.endsWith(`Unknown tool: ${name}`)).toBe(true);
    }

    const hiddenRows = await attemptsOn(ALICE, 'att.postgres.secret', 2);
    const unknownRows = await attemptsOn(ALICE, 'att.postgres.no_such', 2);
    expect(hiddenRows.map((r) => [r.type, r.outcome_status, r.error_code])).toEqual([
      ['audit.attempt.denied', 'denied', 'hidden-tool'],
      ['audit.attempt.denied', 'denied', 'hidden-tool'],
    ]);
    expect(unknownRows.map((r) => [r.type, r.outcome_status, r.error_code])).toEqual([
      ['audit.attempt.denied', 'denied', 'unknown-tool'],
      ['audit.attempt.denied', 'denied', 'unknown-tool'],
    ]);
    // Attributable: the human, the agent, the token, where the call came from.
    expect(hiddenRows[0]?.event.actor).toMatchObject({ user: ALICE, agent: 'claude-code', tokenId: alice.sha256.slice(0, 12), ip: expect.any(String), userAgent: `attempts-e2e/${TAG}` });
    // The caller was told "unknown tool" both times; only the audit knows the difference.
    expect(hiddenRows.map((r) => r.event.details?.['answered'])).toEqual(['UNKNOWN_TOOL', 'UNKNOWN_TOOL']);
    expect(unknownRows.map((r) => r.event.details?.['answered'])).toEqual(['UNKNOWN_TOOL', 'UNKNOWN_TOOL']);
  });

  it('answers a probe with a tool name longer than any tool can have as an unknown tool, and records it once, the name cut short', async () => {
    const probe = `att.${'../'.repeat(400)}etc.passwd`;
    const refused = await client.callTool({ name: probe, arguments: {} }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: ErrorCode.InvalidParams });
    expect((refused as McpError).message.endsWith(`Unknown tool: ${probe}`)).toBe(true);
    const [row, ...more] = await eventually(async () => {
      const rows = await attempts(`actor_user = $1 AND type = 'audit.attempt.denied' AND tool LIKE 'att.../../%'`, [ALICE]);
      if (rows.length === 0) throw new Error('the probe is not stored yet');
      return rows;
    });
    expect(more).toEqual([]);
    expect(row?.error_code).toBe('unknown-tool');
    expect(row?.tool?.length).toBeLessThanOrEqual(300);
    expect(row?.event.details).toMatchObject({ toolLength: probe.length, toolSha256: createHash('sha256').update(probe).digest('hex') });
  });

  it('records a connection the caller may not use, a refused dryRun and invalid parameters, each once', async () => {
    const forbidden = await client.callTool({ name: 'att.postgres.get_order', arguments: { order_id: 1, connection: 'other-db' } });
    expect(text(forbidden)).toBe('FORBIDDEN: you may not run att.postgres.get_order on connection other-db');
    const dryRun = await client.callTool({ name: 'att.shell.uptime', arguments: { dryRun: true } });
    expect(text(dryRun)).toMatch(/^INVALID_PARAMS: dryRun: only SQL runbooks/);
    const invalid = await client.callTool({ name: 'att.postgres.get_order', arguments: { order_id: 'one' } });
    expect(text(invalid)).toMatch(/^INVALID_PARAMS: order_id/);

    const [forbiddenRow, invalidRow] = await attemptsOn(ALICE, 'att.postgres.get_order', 2);
    expect(forbiddenRow).toMatchObject({ type: 'audit.attempt.denied', source: 'policy', outcome_status: 'denied', error_code: 'forbidden-connection', connection_name: 'other-db' });
    expect(forbiddenRow?.event.details).toMatchObject({ answered: 'FORBIDDEN' });
    expect(invalidRow).toMatchObject({ type: 'audit.attempt.denied', error_code: 'invalid-params', connection_name: 'app-db' });
    expect(invalidRow?.event.outcome?.error).toMatch(/^order_id/);
    const [dryRunRow] = await attemptsOn(ALICE, 'att.shell.uptime', 1);
    expect(dryRunRow).toMatchObject({ type: 'audit.attempt.denied', error_code: 'dry-run-refused', connection_name: 'box' });
    // One record per attempt: no audit.run.decided besides it.
    expect(await attempts(`actor_user = $1 AND type = 'audit.run.decided'`, [ALICE])).toEqual([]);
  });

  it('records malformed JSON-RPC from an authenticated caller, with the tool it named', async () => {
    const envelope = await post({ jsonrpc: '1.0', id: 1, method: 'tools/call', params: { name: 'att.postgres.get_order' } });
    expect(envelope.status).toBe(400);
    const params = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'att.postgres.get_order', arguments: 'order_id=1' } });
    expect((await params.json()) as unknown).toMatchObject({ error: { code: ErrorCode.InvalidParams } });
    const notJson = await post('{"jsonrpc": "2.0", "id": 3, "method": ');
    expect(notJson.status).toBe(400);
    const tooLarge = await post({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'att.postgres.get_order', arguments: { order_id: '1'.repeat(5000) } } });
    expect(tooLarge.status).toBe(413);

    const rows = await eventually(async () => {
      const found = await attempts(`actor_user = $1 AND type = 'audit.attempt.denied' AND source = 'gateway' AND error_code IN ('malformed-request', 'request-too-large')`, [ALICE]);
      if (found.length < 4) throw new Error(`${found.length} of 4 stored`);
      return found;
    });
    expect(rows.map((r) => [r.error_code, r.event.details?.['answered']])).toEqual([
      ['malformed-request', 'jsonrpc:-32600'],
      ['malformed-request', 'jsonrpc:-32602'],
      ['malformed-request', 'jsonrpc:-32700'],
      ['request-too-large', 'http:413'],
    ]);
    expect(rows[1]?.tool).toBe('att.postgres.get_order');
  });

  it('records failed bearer tokens with the source and a digest prefix of the token, never the token', async () => {
    const stranger = newToken();
    expect((await post({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, null)).status).toBe(401);
    expect((await post({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, null, { Authorization: 'Basic dXNlcjpwdw==' })).status).toBe(401);
    expect((await post({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, stranger.token)).status).toBe(401);
    const rows = await eventually(async () => {
      const found = await attempts(`type = 'audit.attempt.denied' AND error_code = 'unauthenticated' AND event->'actor'->>'userAgent' = $1`, [`attempts-e2e/${TAG}`]);
      if (found.length < 3) throw new Error(`${found.length} of 3 stored`);
      return found;
    });
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row).toMatchObject({ source: 'gateway', actor_user: 'anonymous', outcome_status: 'denied', actor_ip: expect.any(String) });
      expect(row.event.details).toMatchObject({ answered: 'http:401' });
    }
    expect(rows.map((r) => r.event.outcome?.error)).toEqual(['missing bearer token', 'malformed Authorization header; expected "Bearer <token>"', 'unknown or revoked token']);
    expect(rows[2]?.event.details?.['tokenSha256Prefix']).toBe(stranger.sha256.slice(0, 12));
    expect(JSON.stringify(rows)).not.toContain(stranger.token);
  });

  /**
   * The real SDK client whose bearer token can be changed after it connected (`use`), and the
   * gateway's last answer to it, to read the headers the SDK does not pass on.
   */
  async function switchableClient(token: string, userAgent: string) {
    let bearer = token;
    let last: Response | undefined;
    const transport = new StreamableHTTPClientTransport(new URL(`${stack.gatewayUrl}/mcp`), {
      fetch: async (url, init) => {
        const headers = new Headers(init?.headers);
        headers.set('authorization', `Bearer ${bearer}`);
        headers.set('user-agent', userAgent);
        last = await fetch(url, { ...init, headers });
        return last;
      },
    });
    const sdk = new Client({ name: 'attempts-e2e', version: '1.0.0' });
    await sdk.connect(transport);
    return { sdk, use: (next: string) => (bearer = next), last: () => last };
  }
  const unauthenticatedRows = (userAgent: string) =>
    attempts(`type = 'audit.attempt.denied' AND error_code = 'unauthenticated' AND event->'actor'->>'userAgent' = $1`, [userAgent]);

  it('refuses a revoked token on the very next tools/call: 401 with the MCP auth challenge, recorded once, never authorized', async () => {
    const cli = (...args: string[]) => {
      const proc = startProcess('cli', process.execPath, [RUNGATE_BIN, 'token', ...args], stack.env);
      return proc.exited.then((code) => ({ code, output: proc.output() }));
    };
    const created = await cli('create', '--user', ALICE, '--agent', 'revoked-bot', '--ttl', '1h');
    expect(created.code).toBe(0);
    const token = /^(rg_[A-Za-z0-9_-]{43})$/m.exec(created.output)?.[1] as string;
    const id = /created (tok_[0-9a-f]+)/.exec(created.output)?.[1] as string;
    const userAgent = `attempts-e2e-revoked/${TAG}`;
    const agent = await switchableClient(token, userAgent);
    try {
      const ran = await agent.sdk.callTool({ name: 'att.postgres.get_order', arguments: { order_id: 7 } });
      expect(ran.isError).toBeFalsy();
      expect((await cli('revoke', id)).code).toBe(0);
      const refused = await agent.sdk.callTool({ name: 'att.postgres.get_order', arguments: { order_id: 8 } }).catch((error: unknown) => error);
      // The SDK's error for an HTTP status: its code the status, its message the body.
      expect(refused).toMatchObject({ code: 401, message: expect.stringContaining('"error_description":"token revoked"') });
      expect(agent.last()?.status).toBe(401);
      expect(agent.last()?.headers.get('www-authenticate')).toMatch(/^Bearer resource_metadata="[^"]+", error="invalid_token", error_description="token revoked"$/);
    } finally {
      await agent.sdk.close();
    }
    const [row, ...more] = await eventually(async () => {
      const rows = await unauthenticatedRows(userAgent);
      if (rows.length === 0) throw new Error('not stored yet');
      return rows;
    });
    expect(more).toEqual([]);
    expect(row).toMatchObject({ source: 'gateway', actor_user: 'anonymous', outcome_status: 'denied' });
    expect(row?.event.details).toMatchObject({ answered: 'http:401', token: { id, user: ALICE, agent: 'revoked-bot' } });
    // Only the call before the revocation reached authorization: one decision by that token.
    const decided = await attempts(`type = 'audit.run.decided' AND event->'actor'->>'tokenId' = $1`, [id]);
    expect(decided).toHaveLength(1);
  });

  it('answers a tools/call with a bad token 401 before the SDK serves it, and records it once', async () => {
    const stranger = newToken();
    const userAgent = `attempts-e2e-stranger/${TAG}`;
    const agent = await switchableClient(alice.token, userAgent);
    try {
      agent.use(stranger.token);
      const refused = await agent.sdk.callTool({ name: 'att.postgres.get_order', arguments: { order_id: 9 } }).catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: 401, message: expect.stringContaining('{"error":"invalid_token","error_description":"unknown or revoked token"}') });
      expect(agent.last()?.status).toBe(401);
      expect(agent.last()?.headers.get('www-authenticate')).toMatch(/^Bearer resource_metadata="[^"]+", error="invalid_token", error_description="unknown or revoked token"$/);
    } finally {
      await agent.sdk.close();
    }
    const rows = await eventually(async () => {
      const found = await attempts(`type LIKE 'audit.attempt.%' AND event->'actor'->>'userAgent' = $1`, [userAgent]);
      if (found.length === 0) throw new Error('not stored yet');
      return found;
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ source: 'gateway', error_code: 'unauthenticated', actor_user: 'anonymous', tool: null });
    expect(rows[0]?.event.details).toMatchObject({ answered: 'http:401', tokenSha256Prefix: stranger.sha256.slice(0, 12) });
    expect(JSON.stringify(rows)).not.toContain(stranger.token);
  });

  it('counts a flood of 1,000 bad calls instead of recording each: bounded events, one counter per window', async () => {
    const probe = await mcpClient(stack.gatewayUrl, flooder.token);
    try {
      for (let sent = 0; sent < FLOOD; sent += 10) {
        await Promise.all(
          Array.from({ length: 10 }, (_, i) => probe.callTool({ name: `att.postgres.guess_${sent + i}`, arguments: {} }).then(
            () => 'answered',
            (error: McpError) => error.code,
          )),
        ).then((codes) => expect(new Set(codes)).toEqual(new Set([ErrorCode.InvalidParams])));
      }
    } finally {
      await probe.close();
    }
    const { individual, counters } = await eventually(
      async () => {
        const rows = await attempts(`actor_user = $1 AND type LIKE 'audit.attempt.%'`, [FLOODER]);
        const found = { individual: rows.filter((r) => r.type === 'audit.attempt.denied'), counters: rows.filter((r) => r.type === 'audit.attempt.suppressed') };
        const suppressed = found.counters.reduce((sum, r) => sum + Number(r.event.details?.['suppressed']), 0);
        if (found.individual.length + suppressed < FLOOD) throw new Error(`${found.individual.length} recorded + ${suppressed} counted of ${FLOOD}`);
        return found;
      },
      60_000,
    );
    // Every attempt is accounted for, exactly once: recorded, or counted.
    const suppressed = counters.reduce((sum, r) => sum + Number(r.event.details?.['suppressed']), 0);
    expect(individual.length + suppressed).toBe(FLOOD);
    expect(counters.length).toBeGreaterThan(0);
    expect(individual.length).toBeLessThanOrEqual(EVENTS_PER_WINDOW * (counters.length + 1));
    for (const counter of counters) {
      expect(counter.event.actor).toMatchObject({ user: FLOODER, agent: 'probe-bot', tokenId: flooder.sha256.slice(0, 12) });
      expect(counter.event.details).toMatchObject({
        key: `token:${flooder.sha256.slice(0, 12)}`,
        recorded: EVENTS_PER_WINDOW,
        byCode: { 'unknown-tool': counter.event.details?.['suppressed'] },
        window: { start: expect.any(String), end: expect.any(String) },
        replica: { service: 'policy', host: expect.any(String), pid: expect.any(Number) },
      });
    }
  });

  it('answers 429 with Retry-After to a source whose bearer tokens keep failing, while a token that works there goes on working', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < AUTH_FAILURES + 5; i++) {
      const res = await post({ jsonrpc: '2.0', id: i, method: 'tools/list' }, newToken().token);
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    // Earlier tests spent a few failures of this source's budget.
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(AUTH_FAILURES);
    expect(statuses.slice(-5)).toEqual([429, 429, 429, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);

    const counted = await eventually(
      async () => {
        const rows = await attempts(`type = 'audit.attempt.suppressed' AND event->'details'->'byCode' ? 'auth-rate-limited'`, []);
        const total = rows.reduce((sum, r) => sum + Number((r.event.details?.['byCode'] as Record<string, number>)['auth-rate-limited']), 0);
        if (total < 5) throw new Error(`${total} of 5 refusals counted`);
        return rows;
      },
      30_000,
    );
    expect(counted[0]?.event.details).toMatchObject({ key: expect.stringMatching(/^source:/), replica: { service: 'gateway' } });
  });

  if (transport === 'nats') {
    it('records an attempt the gateway could not put to policy', async () => {
      await stack.processes.find((p) => p.name === 'policy')?.stop();
      const res = await post({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, alice.token, { 'user-agent': `attempts-e2e-down/${TAG}` });
      expect(res.status).toBe(503);
      const [row] = await eventually(async () => {
        const found = await attempts(`type = 'audit.attempt.denied' AND event->'actor'->>'userAgent' = $1`, [`attempts-e2e-down/${TAG}`]);
        if (found.length === 0) throw new Error('not stored yet');
        return found;
      });
      expect(row).toMatchObject({ source: 'gateway', error_code: 'policy-unavailable' });
      expect(row?.event.details).toMatchObject({ answered: 'http:503', tokenSha256Prefix: alice.sha256.slice(0, 12) });
    });
  }
});
