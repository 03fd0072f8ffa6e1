import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { decodeAuditText } from '@rungate/audit-chain';
import { RUNGATE_BIN, startProcess, type ServiceProcess } from '@rungate/testing';
import { mcpClient, startServe } from './support/stack';

type CallResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };

/** `rungate serve` with no configuration: the bundled demo, every service in one process, PGlite. */
describe('rungate serve: the all-in-one demo', () => {
  let dir: string;
  let server: ServiceProcess;
  let client: Client;
  let url: string;
  let token: string;

  async function start(): Promise<void> {
    const served = await startServe('serve', ['--port', '0', '--audit-port', '0', '--data-dir', join(dir, '.rungate')]);
    server = served.process;
    url = served.url;
    token = served.token as string;
    client = await mcpClient(url, token);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rungate-serve-'));
    await start();
  });

  afterAll(async () => {
    await client?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the MCP URL, the bearer header and ready-to-paste client configurations', () => {
    const out = server.output();
    expect(out).toContain(`claude mcp add --transport http rungate ${url}/mcp --header "Authorization: Bearer ${token}"`);
    expect(out).toContain(`npx @modelcontextprotocol/inspector@2 --cli ${url}/mcp --transport http`);
    expect(out).toContain('"mcpServers"');
  });

  it('lists the demo runbooks as tools', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['demo.postgres.list_orders', 'demo.postgres.set_order_status', 'demo.shell.disk_usage']);
    const update = tools.find((t) => t.name === 'demo.postgres.set_order_status');
    expect(update?.annotations).toMatchObject({ destructiveHint: true });
    expect(update?.inputSchema.properties).toHaveProperty('dryRun');
  });

  it('runs the read-only query against the demo database', async () => {
    const result = (await client.callTool({ name: 'demo.postgres.list_orders', arguments: { status: 'open' } })) as CallResult;
    expect(result.isError).toBeFalsy();
    const rows = (result.structuredContent?.['rows'] ?? []) as { id: number; status: string }[];
    expect(rows.map((r) => r.id).sort()).toEqual([1001, 1003, 1005]);
    expect(rows.every((r) => r.status === 'open')).toBe(true);
  });

  it('masks the demo\'s e-mail addresses and its customer column, in structuredContent and text', async () => {
    const result = (await client.callTool({ name: 'demo.postgres.list_orders', arguments: { status: 'open' } })) as CallResult;
    const rows = (result.structuredContent?.['rows'] ?? []) as { id: number; customer: string; email: string }[];
    expect(rows.find((r) => r.id === 1001)).toMatchObject({ customer: '****lace', email: '[EMAIL]' });
    const text = result.content.map((c) => c.text).join('\n');
    expect(text).toContain('[EMAIL]');
    expect(text).not.toContain('ada@example.com');
    expect(text).not.toContain('Ada Lovelace');
  });

  it('dry-runs the update (rolled back), then runs it', async () => {
    const dry = (await client.callTool({ name: 'demo.postgres.set_order_status', arguments: { order_id: 1001, status: 'shipped', dryRun: true } })) as CallResult;
    expect(dry.isError).toBeFalsy();
    expect(dry.structuredContent).toMatchObject({ dryRun: true, statements: [{ command: 'UPDATE', rowCount: 1 }] });
    const stillOpen = (await client.callTool({ name: 'demo.postgres.list_orders', arguments: { status: 'open' } })) as CallResult;
    expect(((stillOpen.structuredContent?.['rows'] ?? []) as { id: number }[]).map((r) => r.id)).toContain(1001);

    const real = (await client.callTool({ name: 'demo.postgres.set_order_status', arguments: { order_id: 1001, status: 'shipped' } })) as CallResult;
    expect(real.isError).toBeFalsy();
    const open = (await client.callTool({ name: 'demo.postgres.list_orders', arguments: { status: 'open' } })) as CallResult;
    expect(((open.structuredContent?.['rows'] ?? []) as { id: number }[]).map((r) => r.id)).not.toContain(1001);
  });

  it('refuses a value outside the declared options before anything runs', async () => {
    const result = (await client.callTool({ name: 'demo.postgres.set_order_status', arguments: { order_id: 1002, status: "open'; DROP TABLE orders; --" } })) as CallResult;
    expect(result.isError).toBe(true);
    expect(result.content.map((c) => c.text).join('\n')).toMatch(/INVALID_PARAMS.*status/);
  });

  it('runs the shell runbook on the local shell, the value arriving as one quoted argument', async () => {
    const result = (await client.callTool({ name: 'demo.shell.disk_usage', arguments: { path: '.' } })) as CallResult;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ kind: 'process', exitCode: 0 });
    expect(String(result.structuredContent?.['stdout'])).toMatch(/^\S+\s+\.\n$/);
    const hostile = (await client.callTool({ name: 'demo.shell.disk_usage', arguments: { path: "x'; echo pwned #" } })) as CallResult;
    expect(hostile.structuredContent).toMatchObject({ kind: 'process' });
    expect(String(hostile.structuredContent?.['stdout'])).not.toContain('pwned');
    // du names the path it could not find, shell-quoted: the whole value was one argument.
    expect(String(hostile.structuredContent?.['stderr'])).toContain(`cannot access 'x'\\''; echo pwned #'`);
  });

  it('answers the audit query API: rungate audit search finds the runs, for the demo user (an auditor)', async () => {
    const auditUrl = /audit search --url (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output())?.[1] as string;
    expect(auditUrl).toBeDefined();
    await client.callTool({ name: 'demo.postgres.set_order_status', arguments: { order_id: 1004, status: 'cancelled', dryRun: true } });
    const search = startProcess('search', process.execPath, [RUNGATE_BIN, 'audit', 'search', '--url', auditUrl, '--runbook', 'demo.postgres.set_order_status', '--json'], {
      ...process.env,
      RUNGATE_TOKEN: token,
    });
    const code = await new Promise<number | null>((resolve) => search.child.on('exit', resolve));
    expect({ code, output: search.output() }).toMatchObject({ code: 0, output: expect.stringContaining('audit.run.completed') });
    const events = search.output().trim().split('\n').map((line) => JSON.parse(line) as { type: string; actor?: { user: string } });
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['audit.run.decided', 'audit.run.started', 'audit.run.completed']));
    expect(events.every((e) => e.actor?.user === 'demo@rungate.local')).toBe(true);
  });

  it('binds an idempotency key to its first arguments in the embedded database, and records hostile text whole', async () => {
    const key = { 'io.rungate/idempotencyKey': `serve-${Date.now()}` };
    const call = (status: string) => client.callTool({ name: 'demo.postgres.set_order_status', arguments: { order_id: 1003, status, dryRun: true }, _meta: key }) as Promise<CallResult>;
    expect((await call('shipped')).isError).toBeFalsy();
    const other = await call('cancelled');
    expect(other.content.map((c) => c.text).join('\n')).toMatch(/^IDEMPOTENCY_CONFLICT: idempotency key serve-\d+ was used for run \S+ with other arguments/);
    const hostile = (await client.callTool({ name: 'demo.postgres.list_orders', arguments: { status: 'open', 'x\u0000\ud800': 1 } })) as CallResult;
    expect(hostile.content.map((c) => c.text).join('\n')).toBe('INVALID_PARAMS: x\u0000\ud800: is not a parameter of this runbook');
    const auditUrl = /audit search --url (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output())?.[1] as string;
    const query = new URLSearchParams({ user: 'demo@rungate.local', runbook: 'demo.postgres.list_orders', type: 'audit.attempt.denied', order: 'desc', limit: '1' });
    const res = await fetch(`${auditUrl}/audit/events?${query}`, { headers: { authorization: `Bearer ${token}` } });
    const [denied] = ((await res.json()) as { events: { valid: boolean; event: { runId?: string; decision?: { reason: string } } }[] }).events;
    expect(denied).toMatchObject({ valid: true, event: { runId: expect.any(String) } });
    expect(decodeAuditText(denied?.event.decision?.reason ?? '')).toBe('x\u0000\ud800: is not a parameter of this runbook');
  });

  it('refuses a bad token', async () => {
    const res = await fetch(`${url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: 'Bearer rg_nope' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
  });

  it('keeps its data across a restart, and the audit chain it wrote verifies', async () => {
    await client.close();
    await server.stop();
    // The embedded database has one user at a time: read the chain once serve has stopped.
    const verify = startProcess('verify', process.execPath, [RUNGATE_BIN, 'audit', 'verify', '--data-dir', join(dir, '.rungate')], process.env);
    const code = await new Promise<number | null>((resolve) => verify.child.on('exit', resolve));
    expect({ code, output: verify.output() }).toMatchObject({ code: 0, output: expect.stringMatching(/^intact: \d+ events/) });
    const checked = Number(/intact: (\d+) events/.exec(verify.output())?.[1]);
    // Each run is received, decided, started and completed: at least four runs were chained.
    expect(checked).toBeGreaterThanOrEqual(16);
    const previousToken = token;
    await start();
    expect(token).toBe(previousToken);
    const open = (await client.callTool({ name: 'demo.postgres.list_orders', arguments: { status: 'shipped' } })) as CallResult;
    expect(((open.structuredContent?.['rows'] ?? []) as { id: number }[]).map((r) => r.id)).toContain(1001);
  });
});
