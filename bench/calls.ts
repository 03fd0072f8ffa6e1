/**
 * The call benchmark both ways of running share (issue 19): a one-row SQL runbook through
 * Rungate — every service its own process over NATS (`npm run bench`), or `rungate serve`
 * in one process with its embedded database (`npm run bench:serve`) — against a bare MCP SDK
 * server running the same SQL on the same PostgreSQL, interleaved in one run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createRunbookRepository, createTestDatabase, eventually } from '@rungate/testing';
import { Pool } from 'pg';
import { mcpClient, newToken, startStack, type Stack, type Transport } from '../test/support/stack';
import { fmt, interleavedLoad, load, type LoadResult } from './support';

export const CALLS = Number(process.env['BENCH_CALLS'] ?? 1500);
const WARMUP = 200;
/** The throughput target is at concurrency 16. */
export const LEVELS = (process.env['BENCH_CONCURRENCY'] ?? '1,16').split(',').map(Number);

export interface CallRatios {
  p50_ratio: number;
  p99_ratio: number;
  throughput_ratio: number;
}

export interface CallBench {
  rungate: Record<number, LoadResult>;
  bareMcp: Record<number, LoadResult>;
  pgAlone: Record<number, LoadResult>;
  ratios: CallRatios;
  stack: Stack;
}

function startBaseline(targetUrl: string): { child: ChildProcess; port: Promise<number> } {
  const child = spawn(process.execPath, ['-r', 'ts-node/register', '-r', 'tsconfig-paths/register', join(__dirname, 'baseline-server.ts')], {
    env: { ...process.env, BENCH_DB_URL: targetUrl, TS_NODE_PROJECT: join(__dirname, 'tsconfig.json') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return { child, port: new Promise<number>((resolve) => child.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())))) };
}

/**
 * Runs the call bench on `transport`; `during` runs while the stack is still up (a profile,
 * RSS, more figures). Prints one line per variant and level, and the ratios per level.
 */
export async function benchCalls(transport: Transport, during?: (bench: CallBench) => Promise<void>): Promise<CallBench> {
  const label = transport === 'nats' ? 'rgbench' : 'rgbenchserve';
  const target = await createTestDatabase(`${label}_target`);
  const auditDb = transport === 'nats' ? await createTestDatabase(`${label}_audit`) : undefined;
  const setup = new Pool({ connectionString: target.url, max: 10 });
  await setup.query("CREATE TABLE users (user_id int PRIMARY KEY, email text NOT NULL); INSERT INTO users SELECT g, g || '@example.com' FROM generate_series(1, 1000) g;");
  const repo = createRunbookRepository({
    'postgres/get_user.runbook.sql': '-- @readonly\nSELECT user_id, email FROM users WHERE user_id = {{ .user_id | type "number" | required }};\n',
  });
  const alice = newToken();
  // The embedded mode keeps its own database (PGlite in the data directory): no DATABASE_URL.
  const stack = await startStack({
    transport,
    env: {
      BENCH_DB_URL: target.url,
      DATABASE_URL: auditDb?.url ?? '',
      LOG_LEVEL: 'warn',
    },
    // BENCH_PROFILE_DIR=dir: every Rungate process writes a CPU profile there when it stops.
    ...(process.env['BENCH_PROFILE_DIR'] ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_PROFILE_DIR']}`] } : {}),
    config: () => `
repositories: [{ name: demo, url: ${repo.dir} }]
connections: [{ name: app-db, type: postgres, url: env:BENCH_DB_URL }]
users: [{ name: alice@example.com, groups: [eng] }]
tokens: [{ sha256: "${alice.sha256}", user: alice@example.com, agent: bench }]
rules: [{ name: eng, groups: [eng], connections: [app-db], runbooks: ["demo/**"] }]
`,
  });
  const baseline = startBaseline(target.url);
  try {
    const baselinePort = await baseline.port;
    const max = Math.max(...LEVELS);
    await eventually(async () => {
      const c = await mcpClient(stack.gatewayUrl, alice.token);
      if ((await c.listTools()).tools.length === 0) throw new Error('catalog not loaded');
      await c.close();
    });
    const full = await Promise.all(Array.from({ length: max }, () => mcpClient(stack.gatewayUrl, alice.token)));
    const bare = await Promise.all(
      Array.from({ length: max }, async () => {
        const c = new Client({ name: 'bench', version: '1' });
        await c.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${baselinePort}/mcp`)));
        return c;
      }),
    );
    let i = 0;
    const id = () => (i++ % 1000) + 1;
    const variants = (concurrency: number) => {
      let a = 0;
      let b = 0;
      return {
        rungate: async () => {
          const r = await (full[a++ % concurrency] as Client).callTool({ name: 'demo.postgres.get_user', arguments: { user_id: id() } });
          if (r.isError) throw new Error(JSON.stringify(r.content));
        },
        bareMcp: () => (bare[b++ % concurrency] as Client).callTool({ name: 'get_user', arguments: { user_id: id() } }),
      };
    };
    const warm = variants(max);
    await load(warm.rungate, WARMUP, max);
    await load(warm.bareMcp, WARMUP, max);
    const rungate: Record<number, LoadResult> = {};
    const bareMcp: Record<number, LoadResult> = {};
    const pgAlone: Record<number, LoadResult> = {};
    const name = transport === 'nats' ? 'Rungate (distributed)' : 'Rungate (rungate serve)';
    for (const concurrency of LEVELS) {
      const r = await interleavedLoad(variants(concurrency), CALLS, concurrency);
      rungate[concurrency] = r.rungate;
      bareMcp[concurrency] = r.bareMcp;
      pgAlone[concurrency] = await load(() => setup.query('SELECT user_id, email FROM users WHERE user_id = $1', [id()]), CALLS, concurrency);
      for (const [what, result] of [[name, r.rungate], ['bare MCP server + pg', r.bareMcp], ['pg alone', pgAlone[concurrency]]] as const) {
        console.log(`${what.padEnd(26)} c=${String(concurrency).padStart(2)}  p50 ${fmt(result.p50).padStart(9)}  p99 ${fmt(result.p99).padStart(9)}  ${result.throughput.toFixed(0).padStart(6)} calls/s`);
      }
      console.log(`Rungate / bare at c=${concurrency}: p50 ×${(r.rungate.p50 / r.bareMcp.p50).toFixed(2)}, p99 ×${(r.rungate.p99 / r.bareMcp.p99).toFixed(2)}, throughput ×${(r.rungate.throughput / r.bareMcp.throughput).toFixed(2)}`);
    }
    const low = Math.min(...LEVELS);
    const at = (results: Record<number, LoadResult>, level: number) => results[level] as LoadResult;
    const ratios: CallRatios = {
      p50_ratio: Number((at(rungate, low).p50 / at(bareMcp, low).p50).toFixed(3)),
      p99_ratio: Number((at(rungate, low).p99 / at(bareMcp, low).p99).toFixed(3)),
      throughput_ratio: Number((at(rungate, max).throughput / at(bareMcp, max).throughput).toFixed(3)),
    };
    const bench: CallBench = { rungate, bareMcp, pgAlone, ratios, stack };
    if (during) await during(bench);
    await Promise.all([...full, ...bare].map((cl) => cl.close()));
    return bench;
  } finally {
    // The baseline's and the stack's connections close before the databases are dropped
    // (a forced drop would otherwise fail their idle pool clients), whatever stop threw.
    const exited = new Promise((resolve) => (baseline.child.exitCode === null ? baseline.child.once('exit', resolve) : resolve(undefined)));
    baseline.child.kill();
    await exited;
    try {
      await stack.stop();
    } finally {
      await setup.end();
      await target.drop();
      await auditDb?.drop();
    }
  }
}
