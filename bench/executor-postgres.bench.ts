/**
 * executor-postgres (issue 5): a trivial runbook through the executor — ticket verified, run
 * id claimed and `audit.run.started` acked while the transaction opens (ADR 9), the body,
 * COMMIT, reply over NATS, `audit.run.completed` published — against node-postgres doing the
 * same query on a live pool in the same run.
 *
 * Also the floor the write-ahead rule sets (docs/design.md §2, step 3): what the mandatory steps cost with bare clients and no
 * Rungate code — one NATS request/reply, the run-ledger claim (KV create) and the started
 * event's ack one after the other, and the bare transaction. No executor can beat it.
 *
 * Then the scaling of replicas, one vs two executor processes, on two mixes:
 * - bound by the executor's capacity (what issue 19's figure asks for): runs that wait 50 ms on
 *   the target, 32 at once; each replica runs at most its pool's 4 at a time (pool.max), so one
 *   replica is the bottleneck and a second one doubles what can run;
 * - CPU-heavy: runs that return 2,000 rows each, so the executor converts, caps and digests a
 *   lot of output. On this 2-core machine the client, NATS, PostgreSQL and both replicas share
 *   the cores, so this mix shows the CPU ceiling, not the executor's.
 */
import { eventually, serviceArgs, startProcess, type ServiceProcess } from '@rungate/testing';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { JetStreamAuditSink, KvRunLedger, connectNats } from '@rungate/messaging';
import { Pool } from 'pg';
import { ExecutorHarness } from '../libs/services/executor-postgres/src/testing/executor-harness';
import { fmt, interleaved, load, record, runBench, stats, statsLine } from './support';

const N = Number(process.env['BENCH_CALLS'] ?? 1000);
const TRIVIAL = 'SELECT 1 AS one';
const HEAVY = 'SELECT g AS n, md5(g::text) AS digest, now() AS at FROM generate_series(1, 2000) AS g';
/** A run that holds one of its replica's pooled connections for 50 ms and costs little CPU. */
const WAITING = 'SELECT pg_catalog.pg_sleep(0.05) IS NULL AS waited';
/** More runs at once than two replicas' pools (4 each) take, so each replica is saturated. */
const WAITING_CONCURRENCY = 32;
const BUILT_CLI = join(__dirname, '..', 'dist', 'apps', 'cli', 'src', 'main.js');

async function main(): Promise<void> {
  const h = await ExecutorHarness.create('bench');
  const bare = new Pool({ connectionString: h.db.url, max: 4 });
  const processes: ServiceProcess[] = [];
  try {
    await h.startReplica();
    // Policy signs tickets in production: the scaling runs sign each as they go (µs beside a
    // 2,000-row run); the interleaved timing signs untimed, per call, so that on a loaded
    // machine no ticket waits out its lifetime before it is used.
    const exec = (body: string) => () => h.exec(h.sign(body));

    // What the executor does on the database, without the executor: one transaction per run.
    const bareTransaction = async () => {
      const client = await bare.connect();
      try {
        await client.query("BEGIN; SET LOCAL statement_timeout = 30000; SELECT pg_catalog.pg_backend_pid()");
        await client.query(TRIVIAL);
        await client.query('COMMIT');
        await client.query('DISCARD ALL');
      } finally {
        client.release();
      }
    };
    // The floor: a responder on its own connection, as the executor has.
    const responder = await connectNats({ name: 'bench-floor-responder' });
    const echo = responder.subscribe(`bench.floor.${randomUUID()}`, { callback: (_error, msg) => msg.respond(msg.data) });
    await responder.flush();
    const ledger = await KvRunLedger.open(responder.jetstream());
    const audit = new JetStreamAuditSink(responder);
    const request = new TextEncoder().encode(JSON.stringify(h.sign(TRIVIAL)));
    const floor = async () => {
      await h.nc.request(echo.getSubject(), request);
      const runId = randomUUID();
      await ledger.claim(runId, 'bench');
      await audit.publish({ type: 'audit.run.started', source: 'bench', runId, details: { bench: 'floor' } });
      await bareTransaction();
    };
    const samples = await interleaved(
      {
        bareQuery: () => () => bare.query(TRIVIAL),
        bareTransaction: () => bareTransaction,
        floor: () => floor,
        executor: () => {
          const ticket = h.sign(TRIVIAL);
          return () => h.exec(ticket);
        },
      },
      N,
      200,
    );
    echo.unsubscribe();
    await responder.close();

    const s = { bareQuery: stats(samples.bareQuery), bareTransaction: stats(samples.bareTransaction), floor: stats(samples.floor), executor: stats(samples.executor) };
    const line = statsLine(50);
    line('pg pool.query (bare)', s.bareQuery);
    line('pg transaction as the executor (bare)', s.bareTransaction);
    line('floor: NATS req + claim + started ack + transaction', s.floor);
    line('executor-postgres over NATS', s.executor);
    const ratios = {
      p50VsQuery: s.executor.p50 / s.bareQuery.p50,
      p99VsQuery: s.executor.p99 / s.bareQuery.p99,
      p50VsTransaction: s.executor.p50 / s.bareTransaction.p50,
      p99VsTransaction: s.executor.p99 / s.bareTransaction.p99,
      overheadP50Ms: s.executor.p50 - s.bareTransaction.p50,
      floorP50VsTransaction: s.floor.p50 / s.bareTransaction.p50,
      p50VsFloor: s.executor.p50 / s.floor.p50,
      p99VsFloor: s.executor.p99 / s.floor.p99,
    };
    console.log(`ratio p50 vs bare query ${ratios.p50VsQuery.toFixed(1)}×, vs bare transaction ${ratios.p50VsTransaction.toFixed(2)}× (+${fmt(ratios.overheadP50Ms)})`);
    console.log(`the floor alone is ${ratios.floorP50VsTransaction.toFixed(2)}× the bare transaction; the executor is ${ratios.p50VsFloor.toFixed(2)}× the floor at p50, ${ratios.p99VsFloor.toFixed(2)}× at p99`);

    // Scaling: separate processes (replicas in one process would share its event loop).
    let scaling: Record<string, unknown> = { skipped: `build first: ${BUILT_CLI} is missing` };
    if (existsSync(BUILT_CLI)) {
      for (const service of h.services.splice(0)) await service.close();
      const heavyCalls = Math.max(200, Math.floor(N / 2));
      const waitingCalls = Math.max(320, N);
      const bound: Record<number, number> = {};
      const heavy: Record<number, number> = {};
      for (const replicas of [1, 2]) {
        while (processes.length < replicas) {
          const child = startProcess(`executor-${processes.length}`, process.execPath, serviceArgs('executor-postgres'), { ...process.env, RUNGATE_CONFIG: h.configFile, LOG_LEVEL: 'warn' });
          processes.push(child);
        }
        await eventually(() => h.exec(h.sign(TRIVIAL)), 20_000);
        // Warm every replica (and its pool) before measuring.
        await load(exec(HEAVY), 40, 8);
        await load(exec(WAITING), 64, WAITING_CONCURRENCY);
        const waiting = await load(exec(WAITING), waitingCalls, WAITING_CONCURRENCY);
        bound[replicas] = waiting.throughput;
        console.log(`${replicas} replica(s), ${waitingCalls} runs of 50 ms on the target, ${WAITING_CONCURRENCY} concurrent: ${waiting.throughput.toFixed(0)} runs/s, p50 ${fmt(waiting.p50)}, p99 ${fmt(waiting.p99)}`);
        const result = await load(exec(HEAVY), heavyCalls, 16);
        heavy[replicas] = result.throughput;
        console.log(`${replicas} replica(s), ${heavyCalls} runs of 2,000 rows, 16 concurrent: ${result.throughput.toFixed(0)} runs/s, p50 ${fmt(result.p50)}, p99 ${fmt(result.p99)}`);
      }
      const speedup = (of: Record<number, number>) => (of[2] ?? 0) / (of[1] ?? 1);
      scaling = {
        runsPerSecond: bound,
        speedup: speedup(bound),
        cpuHeavy: { runsPerSecond: heavy, speedup: speedup(heavy) },
        cores: 2,
        note: `executor-bound (runs of 50 ms, pool.max 4 per replica, ${WAITING_CONCURRENCY} at once); the CPU-heavy mix (2,000 rows a run) gives ${speedup(heavy).toFixed(2)}×: client, NATS, PostgreSQL and both replicas share the same two cores`,
      };
      console.log(`two replicas vs one: ${speedup(bound).toFixed(2)}× bound by the executor's capacity, ${speedup(heavy).toFixed(2)}× on the CPU-heavy mix`);
    }
    record('executorPostgres', { calls: N, ...s, ratios, scaling });
  } finally {
    for (const child of processes) await child.stop();
    await bare.end();
    await h.close();
  }
}

runBench(main);
