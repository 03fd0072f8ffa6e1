import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { decodeAuditText } from '@rungate/audit-chain';
import { RUNGATE_BIN, eventually, startProcess, type ServiceProcess } from '@rungate/testing';
import { mcpClient, runCli, startServe } from './support/stack';

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
    // rungate_run_status: listed since the update may be held for an approval (the demo's rule demo-db-writes).
    expect(tools.map((t) => t.name).sort()).toEqual(['demo.postgres.list_orders', 'demo.postgres.set_order_status', 'demo.shell.disk_usage', 'rungate_run_status']);
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

  it('dry-runs the update (rolled back, never held); a real run waits for the demo approver, who approves it with the commands serve printed', async () => {
    const openIds = async () => (((await client.callTool({ name: 'demo.postgres.list_orders', arguments: { status: 'open' } })) as CallResult).structuredContent?.['rows'] as { id: number }[]).map((r) => r.id);
    const dry = (await client.callTool({ name: 'demo.postgres.set_order_status', arguments: { order_id: 1001, status: 'shipped', dryRun: true } })) as CallResult;
    expect(dry.isError).toBeFalsy();
    expect(dry.structuredContent).toMatchObject({ dryRun: true, statements: [{ command: 'UPDATE', rowCount: 1 }] });
    expect(await openIds()).toContain(1001);

    const held = (await client.callTool({ name: 'demo.postgres.set_order_status', arguments: { order_id: 1001, status: 'shipped' } })) as CallResult;
    expect(held.isError).toBeFalsy();
    expect(held.structuredContent).toMatchObject({ status: 'approval_required', runId: expect.any(String), approvers: { groups: ['sre-leads'], count: 1 } });
    const runId = held.structuredContent?.['runId'] as string;
    expect(await openIds()).toContain(1001);

    // The banner says how: the approver's own token, rungate runs --pending and rungate approve against this gateway.
    const printed = /RUNGATE_TOKEN=(rg_[A-Za-z0-9_-]+) npx rungate runs --pending --url (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output());
    expect(printed?.[2]).toBe(url);
    expect(server.output()).toContain(`npx rungate approve RUN_ID --url ${url}`);
    const approver = { ...process.env, RUNGATE_TOKEN: printed?.[1] as string, RUNGATE_GATEWAY_URL: url };
    const pending = await runCli(['runs', '--pending'], { env: approver });
    expect(pending).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`^${runId}\\s+demo\\.postgres\\.set_order_status\\s+demo-db\\s+demo@rungate\\.local via demo-agent\\s+0/1`, 'm')) });
    // The demo agent's token is an agent's: it never approves, not even another human's run.
    expect(await runCli(['approve', runId], { env: { ...approver, RUNGATE_TOKEN: token } })).toMatchObject({ code: 1, stderr: expect.stringContaining('AGENT_CANNOT_APPROVE') });
    expect(await openIds()).toContain(1001);

    const approved = await runCli(['approve', runId, '--comment', 'ship it'], { env: approver });
    expect(approved).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`^approved ${runId} \\(demo\\.postgres\\.set_order_status on demo-db\\): 1/1 approval`)) });
    const status = await eventually(async () => {
      const answer = (await client.callTool({ name: 'rungate_run_status', arguments: { runId } })) as CallResult;
      if (answer.structuredContent?.['state'] !== 'executed') throw new Error(`not executed yet: ${JSON.stringify(answer.structuredContent)}`);
      return answer.structuredContent;
    });
    expect(status).toMatchObject({ runId, state: 'executed', decisions: [{ verdict: 'approved' }] });
    expect(await openIds()).not.toContain(1001);
    expect(await runCli(['approve', runId], { env: approver })).toMatchObject({ code: 1, stderr: expect.stringContaining('RUN_NOT_PENDING') });
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
    // The agent's human asked; the demo approver decided the held one.
    // (its approval, then its second one refused: the run was no longer pending).
    expect(events.filter((e) => e.actor?.user !== 'demo@rungate.local').map((e) => [e.type, e.actor?.user])).toEqual([
      ['audit.run.approved', 'lead@rungate.local'],
      ['audit.attempt.denied', 'lead@rungate.local'],
    ]);
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
