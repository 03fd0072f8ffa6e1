// `npm run bench:serve`, the embedded mode (issue 19): tools/call through `rungate serve` (one
// process, its own PGlite database, a real PostgreSQL target) against the bare MCP SDK server
// on the same PostgreSQL, interleaved in one run (bench/calls.ts); then how long `rungate
// serve` takes from launch to its printed banner (every service up, the demo catalog loaded),
// on a fresh data directory (first start: the embedded databases are created) and on an
// existing one (later starts), against a bare Node.js process that starts an HTTP server — the
// floor any Node service pays. The last stdout line is the call ratios as one JSON object.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RUNGATE_BIN } from '@rungate/testing';
import { CALLS, LEVELS, benchCalls } from './calls';
import { fmt, record, runBench, stats } from './support';

const CLI = RUNGATE_BIN;
const RUNS = Number(process.env['RUNS'] ?? 3);

/** Milliseconds from spawn until `ready` appears on stdout; the process is then stopped. */
function timeUntil(args: string[], ready: RegExp, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolveTime, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (ready.test(out)) {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        child.once('exit', () => resolveTime(ms));
        child.kill('SIGTERM');
      }
    });
    child.once('exit', (code) => {
      if (!ready.test(out)) reject(new Error(`exited (${code}) before it was ready:\n${err}`));
    });
  });
}

async function main(): Promise<void> {
  const calls = await benchCalls('in-process');
  record('serveToolsCall', { calls: CALLS, levels: LEVELS, rungate: calls.rungate, bareMcp: calls.bareMcp, pgAlone: calls.pgAlone, ...calls.ratios });
  // BENCH_SERVE_START=0: the calls only.
  if (process.env['BENCH_SERVE_START'] === '0') {
    console.log(JSON.stringify(calls.ratios));
    return;
  }
  const env = { ...process.env };
  delete env['DATABASE_URL'];
  delete env['RUNGATE_CONFIG'];
  const baseline: number[] = [];
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    baseline.push(await timeUntil(['-e', "require('http').createServer().listen(0, '127.0.0.1', () => console.log('up'))"], /up/, env));
    const dir = mkdtempSync(join(tmpdir(), 'rungate-serve-bench-'));
    try {
      const args = [CLI, 'serve', '--port', '0', '--data-dir', join(dir, '.rungate')];
      cold.push(await timeUntil(args, /Rungate is running/, env));
      warm.push(await timeUntil(args, /Rungate is running/, env));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const result = { baseline: stats(baseline), cold: stats(cold), warm: stats(warm) };
  console.log(`rungate serve start-up over ${RUNS} runs (p50 / max):`);
  console.log(`  bare node http server   ${fmt(result.baseline.p50)} / ${fmt(Math.max(...baseline))}`);
  console.log(`  first start (new data)  ${fmt(result.cold.p50)} / ${fmt(Math.max(...cold))}`);
  console.log(`  later start             ${fmt(result.warm.p50)} / ${fmt(Math.max(...warm))}`);
  record('serve_start', result);
  console.log(JSON.stringify({ cold_p50_ms: Math.round(result.cold.p50), warm_p50_ms: Math.round(result.warm.p50), warm_vs_bare_node: +(result.warm.p50 / result.baseline.p50).toFixed(1) }));
  console.log(JSON.stringify(calls.ratios));
}

runBench(main);
