/**
 * Issue 2's benchmark, all in one run on this machine:
 *   (a) the full distributed tools/call of a one-row SQL runbook (gateway → policy →
 *       executor-postgres → audit, every service its own process, over NATS),
 *   (b) a bare MCP SDK server with the same transport settings running the same SQL via pg,
 *   (c) pg alone.
 * Prints p50/p99/throughput per concurrency level and the ratios a/b; the last stdout line is
 * one JSON object with p50_ratio (concurrency 1), p99_ratio (concurrency 1) and
 * throughput_ratio (highest concurrency).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createRunbookRepository, createTestDatabase, eventually } from '@rungate/testing';
import { Pool } from 'pg';
import { mcpClient, newToken, startStack } from '../test/support/stack';
import { fmt, load, record } from './support';

const CALLS = Number(process.env['BENCH_CALLS'] ?? 2000);
const WARMUP = 200;
const LEVELS = (process.env['BENCH_CONCURRENCY'] ?? '1,8,32').split(',').map(Number);

type Result = Awaited<ReturnType<typeof load>>;

async function clients(make: () => Promise<Client>, n: number): Promise<Client[]> {
  return Promise.all(Array.from({ length: n }, make));
}

async function measure(name: string, pool: Client[] | null, call: (client: Client | null, i: number) => Promise<unknown>): Promise<Record<number, Result>> {
  const results: Record<number, Result> = {};
  let i = 0;
  await load(() => call(pool ? (pool[i % pool.length] as Client) : null, i++), WARMUP, Math.max(...LEVELS));
  for (const concurrency of LEVELS) {
    let slot = 0;
    results[concurrency] = await load(() => call(pool ? (pool[slot++ % concurrency] as Client) : null, i++), CALLS, concurrency);
    const r = results[concurrency] as Result;
    console.log(`${name.padEnd(28)} c=${String(concurrency).padStart(2)}  p50 ${fmt(r.p50).padStart(9)}  p99 ${fmt(r.p99).padStart(9)}  ${r.throughput.toFixed(0).padStart(6)} calls/s`);
  }
  return results;
}

async function main(): Promise<void> {
  const target = await createTestDatabase('rgbench_target');
  const auditDb = await createTestDatabase('rgbench_audit');
  const setup = new Pool({ connectionString: target.url, max: 10 });
  await setup.query('CREATE TABLE users (user_id int PRIMARY KEY, email text NOT NULL); INSERT INTO users SELECT g, g || \'@example.com\' FROM generate_series(1, 1000) g;');
  const repo = createRunbookRepository({
    'postgres/get_user.runbook.sql': '-- @readonly\nSELECT user_id, email FROM users WHERE user_id = {{ .user_id | type "number" | required }};\n',
  });
  const alice = newToken();
  const stack = await startStack({
    env: { BENCH_DB_URL: target.url, DATABASE_URL: auditDb.url, LOG_LEVEL: 'warn' },
    config: () => `
repositories: [{ name: demo, url: ${repo.dir} }]
connections: [{ name: app-db, type: postgres, url: env:BENCH_DB_URL }]
users: [{ name: alice@example.com, groups: [eng] }]
tokens: [{ sha256: "${alice.sha256}", user: alice@example.com, agent: bench }]
rules: [{ name: eng, groups: [eng], connections: [app-db], runbooks: ["demo/**"] }]
`,
  });
  const baseline = spawn(process.execPath, ['-r', 'ts-node/register', '-r', 'tsconfig-paths/register', join(__dirname, 'baseline-server.ts')], {
    env: { ...process.env, BENCH_DB_URL: target.url, TS_NODE_PROJECT: join(__dirname, 'tsconfig.json') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const baselinePort = await new Promise<number>((resolve) => baseline.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  try {
    const max = Math.max(...LEVELS);
    await eventually(async () => {
      const c = await mcpClient(stack.gatewayUrl, alice.token);
      if ((await c.listTools()).tools.length === 0) throw new Error('catalog not loaded');
      await c.close();
    });
    const full = await clients(() => mcpClient(stack.gatewayUrl, alice.token), max);
    const bare = await clients(async () => {
      const c = new Client({ name: 'bench', version: '1' });
      await c.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${baselinePort}/mcp`)));
      return c;
    }, max);
    const id = (i: number) => (i % 1000) + 1;
    const a = await measure('(a) Rungate tools/call', full, async (c, i) => {
      const r = await (c as Client).callTool({ name: 'demo.postgres.get_user', arguments: { user_id: id(i) } });
      if (r.isError) throw new Error(JSON.stringify(r.content));
    });
    const b = await measure('(b) bare MCP server + pg', bare, (c, i) => (c as Client).callTool({ name: 'get_user', arguments: { user_id: id(i) } }));
    const c = await measure('(c) pg alone', null, (_c, i) => setup.query('SELECT user_id, email FROM users WHERE user_id = $1', [id(i)]));
    const low = Math.min(...LEVELS);
    const ratios = {
      p50_ratio: Number(((a[low] as Result).p50 / (b[low] as Result).p50).toFixed(3)),
      p99_ratio: Number(((a[low] as Result).p99 / (b[low] as Result).p99).toFixed(3)),
      throughput_ratio: Number(((a[max] as Result).throughput / (b[max] as Result).throughput).toFixed(3)),
    };
    for (const level of LEVELS) {
      console.log(`a/b at c=${level}: p50 ×${((a[level] as Result).p50 / (b[level] as Result).p50).toFixed(2)}, throughput ×${((a[level] as Result).throughput / (b[level] as Result).throughput).toFixed(2)}`);
    }
    record('toolsCall', { calls: CALLS, levels: LEVELS, rungate: a, bareMcp: b, pgAlone: c, ...ratios });
    await Promise.all([...full, ...bare].map((cl) => cl.close()));
    console.log(JSON.stringify(ratios));
  } finally {
    baseline.kill();
    await stack.stop();
    await setup.end();
    await target.drop();
    await auditDb.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
