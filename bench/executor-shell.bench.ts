/**
 * executor-shell (issue 5): a trivial runbook (`echo ok`) through the executor — ticket
 * verified, run id claimed, `audit.run.started` acked, a fresh 0700 directory, `/bin/sh -s`
 * in its own process group with a clean environment, the group checked for leftovers, the
 * directory removed, `audit.run.completed` acked, reply over NATS — against a bare
 * `child_process.spawn('/bin/sh', ['-s'])` of the same body in the same run.
 *
 * Over NATS, the pipeline opens the run (directory, spawned shell waiting on stdin) while it
 * claims the run id and waits for the ack of `started` (ADR 9); the adapter alone opens it
 * inside `run`, so it still pays for all of it in sequence.
 *
 * The adapter alone (directory, spawn, cleanup; no NATS, ticket or audit) splits the
 * difference between what running a script safely costs and what the pipeline costs. The
 * three are timed interleaved, call by call, so a busy machine skews none of them alone.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { ConnectionConfig } from '@rungate/config';
import type { ConnectionOf } from '@rungate/executors';
import { ShellAdapter } from '../libs/services/executor-shell/src/lib/shell.adapter';
import { ExecutorHarness } from '../libs/services/executor-shell/src/testing/executor-harness';
import { fmt, interleaved, record, runBench, stats, statsLine } from './support';

const N = Number(process.env['BENCH_CALLS'] ?? 500);
const WARMUP = 50;
const TRIVIAL = 'echo ok';

/** What a caller would write without Rungate: one shell, the body on stdin, stdout until it closes. */
function bareSpawn(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-s']);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`exit ${code}`))));
    child.stdin.end(`${TRIVIAL}\n`);
  });
}

async function main(): Promise<void> {
  const h = await ExecutorHarness.create('bench');
  const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
  const adapter = new ShellAdapter(quiet, { workdirBase: h.runsDir });
  try {
    await h.startReplica();
    const connection = ConnectionConfig.parse({ name: 'ops-box', type: 'shell' }) as ConnectionOf<'shell'>;
    const claims = h.claims(TRIVIAL);
    const variants: Record<'bare' | 'adapter' | 'executor', () => () => Promise<unknown>> = {
      bare: () => bareSpawn,
      adapter: () => () => adapter.run(adapter.prepare({ ...claims, runId: randomUUID() }, TRIVIAL, connection), new AbortController().signal),
      executor: () => {
        // Signed just before use: a ticket lives 30 s, a long run of the bench takes longer.
        const ticket = h.sign(TRIVIAL);
        return async () => {
          const result = await h.exec(ticket);
          if (result.output.kind !== 'process' || result.output.stdout !== 'ok\n') throw new Error(`unexpected output ${JSON.stringify(result.output)}`);
        };
      },
    };
    const samples = await interleaved(variants, N, WARMUP);

    const s = { bareSpawn: stats(samples.bare), adapter: stats(samples.adapter), executor: stats(samples.executor) };
    const line = statsLine(40);
    line("spawn('/bin/sh', ['-s']) (bare)", s.bareSpawn);
    line('ShellAdapter.run (no NATS, ticket, audit)', s.adapter);
    line('executor-shell over NATS', s.executor);
    const ratios = {
      p50VsBare: s.executor.p50 / s.bareSpawn.p50,
      p99VsBare: s.executor.p99 / s.bareSpawn.p99,
      adapterP50VsBare: s.adapter.p50 / s.bareSpawn.p50,
      overheadP50Ms: s.executor.p50 - s.bareSpawn.p50,
      pipelineP50Ms: s.executor.p50 - s.adapter.p50,
    };
    console.log(
      `ratio p50 ${ratios.p50VsBare.toFixed(2)}×, p99 ${ratios.p99VsBare.toFixed(2)}× vs bare spawn (+${fmt(ratios.overheadP50Ms)} at p50; ` +
        `adapter alone ${ratios.adapterP50VsBare.toFixed(2)}×, pipeline and NATS +${fmt(ratios.pipelineP50Ms)})`,
    );
    record('executorShell', { calls: N, ...s, ratios, note: 'client, NATS and the executor share the same two cores' });
  } finally {
    await adapter.close();
    await h.close();
  }
}

runBench(main);
