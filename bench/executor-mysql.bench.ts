/**
 * executor-mysql (issue 22): a trivial runbook through the executor — ticket verified, run id
 * claimed and `audit.run.started` acked while the session is pinned and the transaction opens
 * (ADR 9), the body, COMMIT, COM_RESET_CONNECTION, reply over NATS — against mysql2 doing the
 * same transaction on a live pool, interleaved in the same run.
 */
import { createPool, type PoolConnection } from 'mysql2';
import { ExecutorHarness } from '../libs/services/executor-mysql/src/testing/executor-harness';
import { fmt, interleaved, record, runBench, stats, statsLine } from './support';

const N = Number(process.env['BENCH_CALLS'] ?? 1000);
const TRIVIAL = 'SELECT 1 AS one';

async function main(): Promise<void> {
  const h = await ExecutorHarness.create('bench');
  const url = new URL(h.db.url);
  const bare = createPool({ host: url.hostname, port: Number(url.port), user: h.db.user, password: h.db.password, database: h.db.name, connectionLimit: 4, multipleStatements: true });
  const q = (conn: PoolConnection, sql: string) => new Promise<void>((resolve, reject) => conn.query(sql, (error) => (error ? reject(error) : resolve())));
  try {
    await h.startReplica();
    const tickets = Array.from({ length: N + 200 }, () => h.sign(TRIVIAL));
    let next = 0;
    const executor = () => h.exec(tickets[next++]);
    const bareQuery = () => new Promise<void>((resolve, reject) => bare.query(TRIVIAL, (error) => (error ? reject(error) : resolve())));
    // What the executor does on the server, without the executor: one pinned transaction per run.
    const bareTransaction = async () => {
      const conn = await new Promise<PoolConnection>((resolve, reject) => bare.getConnection((error, c) => (error ? reject(error) : resolve(c))));
      try {
        await q(conn, "SET SESSION sql_mode = 'STRICT_TRANS_TABLES', time_zone = '+00:00', autocommit = 0, max_statement_time = 30; START TRANSACTION; SELECT CONNECTION_ID()");
        await q(conn, TRIVIAL);
        await q(conn, 'COMMIT');
        await new Promise<void>((resolve, reject) => conn.reset((error: Error | null) => (error ? reject(error) : resolve())));
      } finally {
        conn.release();
      }
    };
    const samples = await interleaved({ bareQuery: () => bareQuery, bareTransaction: () => bareTransaction, executor: () => executor }, N, 200);
    const s = { bareQuery: stats(samples.bareQuery), bareTransaction: stats(samples.bareTransaction), executor: stats(samples.executor) };
    const line = statsLine(44);
    line('mysql2 pool.query (bare)', s.bareQuery);
    line('mysql2 transaction as the executor (bare)', s.bareTransaction);
    line('executor-mysql over NATS', s.executor);
    const ratios = {
      p50VsQuery: s.executor.p50 / s.bareQuery.p50,
      p50VsTransaction: s.executor.p50 / s.bareTransaction.p50,
      p99VsTransaction: s.executor.p99 / s.bareTransaction.p99,
      overheadP50Ms: s.executor.p50 - s.bareTransaction.p50,
    };
    console.log(
      `ratio p50 vs bare query ${ratios.p50VsQuery.toFixed(1)}×, vs bare transaction ${ratios.p50VsTransaction.toFixed(2)}× (+${fmt(ratios.overheadP50Ms)}), p99 vs bare transaction ${ratios.p99VsTransaction.toFixed(2)}×`,
    );
    record('executorMysql', { calls: N, ...s, ratios });
  } finally {
    await new Promise<void>((resolve) => bare.end(() => resolve()));
    await h.close();
  }
}

runBench(main);
