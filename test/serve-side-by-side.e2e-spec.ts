import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RUNGATE_BIN, eventually, freePort, startProcess } from '@rungate/testing';
import { embeddedEnv, mcpClient, startServe, type RunningServe } from './support/stack';

// rungate_run_status: the demo's update may be held for an approval.
const DEMO_TOOLS = ['demo.postgres.list_orders', 'demo.postgres.set_order_status', 'demo.shell.disk_usage', 'rungate_run_status'];

/** Whether something else listens on the port right now (a free port found a moment ago may be taken since). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** A port P with P+2 free too, for `--port P`. */
async function portPair(): Promise<number> {
  return eventually(async () => {
    const port = await freePort();
    if (port > 65533 || !(await portFree(port + 2))) throw new Error(`${port + 2} is taken`);
    return port;
  });
}

async function demoTools(serve: RunningServe): Promise<string[]> {
  const client = await mcpClient(serve.url, serve.token as string);
  try {
    return (await client.listTools()).tools.map((t) => t.name).sort();
  } finally {
    await client.close();
  }
}

/** Issue 14: two `rungate serve` on one machine, each with its own ports and data directory. */
describe('two rungate serve side by side', () => {
  let dir: string;
  let port: number;
  let first: RunningServe;
  let second: RunningServe;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-two-serves-'));
    port = await portPair();
    // Started together, as two terminals would: each with the bundled demo (its own demo database on a free port).
    [first, second] = await Promise.all([
      startServe('first', ['--port', '0', '--data-dir', join(dir, 'first')]),
      startServe('second', ['--port', String(port), '--data-dir', join(dir, 'second')]),
    ]);
  });

  afterAll(async () => {
    await Promise.all([first?.process.stop(), second?.process.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('both serve tools/list to the MCP SDK client', async () => {
    expect(await demoTools(first)).toEqual(DEMO_TOOLS);
    expect(await demoTools(second)).toEqual(DEMO_TOOLS);
    expect(first.token).not.toBe(second.token);
  });

  it('--port P moves every port: MCP, probes and metrics on P, the audit API on P+2; --port 0 picks free ones', async () => {
    expect(second.url).toBe(`http://127.0.0.1:${port}`);
    expect(second.auditUrl).toBe(`http://127.0.0.1:${port + 2}`);
    for (const serve of [first, second]) {
      for (const path of ['/healthz', '/readyz', '/metrics']) expect((await fetch(`${serve.url}${path}`)).status).toBe(200);
      expect((await fetch(`${serve.auditUrl}/readyz`)).status).toBe(200);
    }
    const ports = new Set([first.url, first.auditUrl, second.url, second.auditUrl].map((url) => new URL(url).port));
    expect(ports.size).toBe(4);
    // What the gateway says about itself names the port it got, not the 0 it was asked for.
    const unauthenticated = await fetch(`${first.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('www-authenticate')).toContain(`resource_metadata="${first.url}/`);
  });

  it('refuses a second serve on a data directory in use, naming the holder, and leaves the first serving', async () => {
    const third = startProcess('third', process.execPath, [RUNGATE_BIN, 'serve', '--port', '0', '--data-dir', join(dir, 'first')], embeddedEnv());
    expect(await third.exited).toBe(1);
    expect(third.output()).toMatch(/rungate serve: the data directory \S+first is in use by `rungate serve` \(pid \d+, since /);
    expect(await demoTools(first)).toEqual(DEMO_TOOLS);
  });

  it('names a port in use and the way out, and frees its data directory again', async () => {
    const dataDir = join(dir, 'fourth');
    const fourth = startProcess('fourth', process.execPath, [RUNGATE_BIN, 'serve', '--port', String(port), '--data-dir', dataDir], embeddedEnv());
    expect(await fourth.exited).toBe(1);
    // Its MCP port is the second's, and so is its audit port (P+2): whichever it binds first is named.
    expect(fourth.output()).toMatch(new RegExp(`127\\.0\\.0\\.1:(${port}|${port + 2}) \\((the MCP endpoint|the audit query API)\\) is already in use`));
    expect(fourth.output()).toContain('--port 0 picks free ones');
    expect(existsSync(join(dataDir, 'lock'))).toBe(false);
    expect(existsSync(join(dataDir, 'admin.sock'))).toBe(false);
  });
});
