/**
 * `npm run bench` (issues 2 and 19): the full distributed tools/call of a one-row SQL runbook
 * (gateway → policy → executor-postgres → audit, every service its own process, over NATS)
 * against a bare MCP SDK server running the same SQL via pg, interleaved in one run; pg alone
 * for reference. Then the scale figures (bench/scale.ts, one JSON line each; BENCH_SCALE=0
 * skips them). The last stdout line is one JSON object: p50_ratio and p99_ratio at the lowest
 * concurrency, throughput_ratio at the highest (16 by default).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CALLS, LEVELS, benchCalls } from './calls';
import { record } from './support';

async function main(): Promise<void> {
  const { rungate, bareMcp, pgAlone, ratios } = await benchCalls('nats');
  record('toolsCall', { calls: CALLS, levels: LEVELS, rungate, bareMcp, pgAlone, ...ratios });
  if (process.env['BENCH_SCALE'] !== '0') {
    const scale = spawnSync(process.execPath, [...process.execArgv, join(__dirname, 'scale.ts')], { stdio: 'inherit', env: process.env });
    if (scale.status !== 0) throw new Error(`the scale figures failed (exit ${scale.status})`);
  }
  console.log(JSON.stringify(ratios));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
