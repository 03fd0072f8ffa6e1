/**
 * The scale figures of issue 19, one JSON line each (`npm run bench` runs this after the call
 * bench; `npm run bench:scale` alone). Each comes from its own bench, run here as a child
 * process with its output kept in bench/results/scale.log, read back from
 * bench/results/latest.json; sizes are cut where a full run would take many minutes
 * (BENCH_SCALE_FULL=1 keeps each bench's own defaults).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRunbookRepository, createTestDatabase } from '@rungate/testing';
import { newToken, startStack } from '../test/support/stack';
import { RESULTS_DIR, record } from './support';

const FULL = process.env['BENCH_SCALE_FULL'] === '1';
const LOG = join(RESULTS_DIR, 'scale.log');

type Section = Record<string, unknown>;

function runSubBench(file: string, env: Record<string, string>): Section {
  const started = Date.now();
  const child = spawnSync(process.execPath, [...process.execArgv, join(__dirname, file)], { env: { ...process.env, ...(FULL ? {} : env) }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  appendFileSync(LOG, `--- ${file} (exit ${child.status}, ${((Date.now() - started) / 1000).toFixed(0)} s)\n${child.stdout}${child.stderr}`);
  if (child.status !== 0) throw new Error(`${file} failed (exit ${child.status}); see ${LOG}`);
  return JSON.parse(readFileSync(join(RESULTS_DIR, 'latest.json'), 'utf8')) as Section;
}

const figure = (value: Record<string, unknown>) => console.log(JSON.stringify(value));
const round = (n: unknown, digits = 2) => Number(Number(n).toFixed(digits));

/** Resident set size of a process, in MiB (Linux /proc). */
export function rssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? round(Number(match[1]) / 1024, 1) : undefined;
}

/** RSS of every service process, and of `rungate serve`, each idle once its catalog is loaded. */
async function idleRss(): Promise<Record<string, number | undefined>> {
  const repo = createRunbookRepository({ 'postgres/one.runbook.sql': '-- @readonly\nSELECT {{ .id | type "number" }} AS id;\n' });
  const token = newToken();
  const config = () => `
repositories: [{ name: demo, url: ${repo.dir} }]
connections: [{ name: db, type: postgres, url: env:RSS_DB_URL }]
users: [{ name: u, groups: [g] }]
tokens: [{ sha256: "${token.sha256}", user: u, agent: a }]
rules: [{ name: r, groups: [g], connections: [db], runbooks: ["demo/**"] }]
`;
  const env = { RSS_DB_URL: 'postgres://postgres@127.0.0.1:5432/postgres', LOG_LEVEL: 'warn' };
  const rss: Record<string, number | undefined> = {};
  for (const transport of ['nats', 'in-process'] as const) {
    // The audit service needs its PostgreSQL; the embedded mode opens its own database: no DATABASE_URL.
    const auditDb = transport === 'nats' ? await createTestDatabase('rgrss_audit') : undefined;
    const stack = await startStack({ transport, config, env: { ...env, DATABASE_URL: auditDb?.url ?? '' } });
    try {
      // Idle: a few seconds after ready, with nothing called.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      for (const p of stack.processes) rss[transport === 'nats' ? p.name : 'rungate serve'] = rssMiB(p.child.pid);
    } finally {
      await stack.stop();
      await auditDb?.drop();
    }
  }
  return rss;
}

async function main(): Promise<void> {
  writeFileSync(LOG, '');
  const policy = runSubBench('policy.bench.ts', {})['policy'] as Section;
  figure({ figure: 'policy_decision_1000_rules_10000_runbooks', p50_us: round(policy['decisionP50Us']), p99_us: round(policy['decisionP99Us']), target_p50_us: 20 });
  figure({ figure: 'tools_list_10000_visible_runbooks', p50_ms: round(policy['listP50Ms']), p99_ms: round(policy['listP99Ms']), target_ms: 50 });

  const audit = runSubBench('audit.bench.ts', { BENCH_EVENTS: '10000' })['audit'] as Section;
  figure({ figure: 'audit_chain_and_projection', events: audit['events'], catch_up_per_s: round(audit['catchUpPerSecond'], 0), live_per_s: round(audit['livePerSecond'], 0), store_per_s: round(audit['storePerSecond'], 0), target_per_s: 5000, lossless: true });

  const ssh = runSubBench('executor-ssh.bench.ts', { BENCH_CALLS: '300' })['executorSsh'] as Section;
  const sshRatios = ssh['ratios'] as Section;
  figure({ figure: 'ssh_runbook_warm_connection_vs_bare_ssh2_exec', p50_ratio: round(sshRatios['p50']), p99_ratio: round(sshRatios['p99']), target_ratio: 1.3 });

  const git = runSubBench('git-sync.bench.ts', { BENCH_RUNBOOKS: '2000' })['gitSync'] as Section;
  figure({ figure: 'pushed_commit_visible', runbooks: git['runbooks'], polling_p50_ms: round((git['pollingMs'] as Section)['p50'], 0), webhook_p50_ms: round((git['webhookMs'] as Section)['p50'], 0), target_polling_ms: 2000, target_webhook_ms: 300 });

  const pg = runSubBench('executor-postgres.bench.ts', { BENCH_CALLS: '300' })['executorPostgres'] as Section;
  const scaling = pg['scaling'] as Section;
  figure({ figure: 'executor_scale_out_two_postgres_replicas', speedup: round(scaling['speedup']), runs_per_s: scaling['runsPerSecond'], target_speedup: 1.6, note: scaling['note'] ?? scaling['skipped'] });

  const rss = await idleRss();
  record('rss', rss);
  figure({ figure: 'idle_rss_mib', ...rss });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
