/**
 * executor-ssh (issue 5): a trivial runbook (`echo ok`) through the executor — ticket
 * verified, run id claimed, `audit.run.started` acked, one exec session on a pooled
 * connection, `audit.run.completed` acked, reply over NATS — against ssh2 `exec` of `echo ok`
 * on an already-open connection to the same sshd, in the same run.
 *
 * A second baseline runs exactly what the executor sends (the process-group wrapper and the
 * script on stdin) over bare ssh2, to separate the executor's own cost from the wrapper's.
 */
import { readFileSync } from 'node:fs';
import { Client } from 'ssh2';
import { ExecutorHarness } from '../libs/services/executor-ssh/src/testing/executor-harness';
import { remoteCommand, remoteScript } from '../libs/services/executor-ssh/src/lib/remote-script';
import { fmt, record, stats, timeAsync } from './support';

const N = Number(process.env['BENCH_CALLS'] ?? 1000);
const BODY = 'echo ok';

function connect(h: ExecutorHarness): Promise<Client> {
  const client = new Client();
  return new Promise((resolve, reject) => {
    client.once('ready', () => resolve(client)).once('error', reject);
    client.connect({ host: '127.0.0.1', port: h.sshd.port, username: h.sshd.user, privateKey: readFileSync(h.sshd.clientKeyFile) });
    client.setNoDelay(true);
  });
}

/** One exec on a live connection, read to the end: what a hand-written ssh2 client does. */
function exec(client: Client, command: string, stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) return reject(error);
      let out = '';
      channel.on('data', (chunk: Buffer) => (out += chunk.toString()));
      channel.stderr.resume();
      channel.on('close', () => resolve(out));
      channel.end(stdin);
    });
  });
}

async function main(): Promise<void> {
  const h = await ExecutorHarness.create('bench');
  const client = await connect(h);
  try {
    await h.startReplica();
    // Policy signs tickets in production; signing stays out of the timed part.
    const tickets = Array.from({ length: N + 200 }, () => h.sign(BODY));
    let next = 0;

    const bare = await timeAsync(() => exec(client, BODY), N);
    const wrapped = await timeAsync(() => exec(client, remoteCommand(), remoteScript({}, BODY)), N);
    const executor = await timeAsync(async () => {
      const result = await h.exec(tickets[next++]);
      if (result.output.kind !== 'process' || result.output.stdout !== 'ok\n') throw new Error(`unexpected output ${JSON.stringify(result.output)}`);
    }, N);

    const s = { bare: stats(bare), bareWrapped: stats(wrapped), executor: stats(executor) };
    const line = (name: string, v: { p50: number; p99: number }) => console.log(`${name.padEnd(44)} p50 ${fmt(v.p50).padStart(9)}  p99 ${fmt(v.p99).padStart(9)}`);
    line('ssh2 exec `echo ok`, live connection (bare)', s.bare);
    line('ssh2 exec of the executor\'s wrapper (bare)', s.bareWrapped);
    line('executor-ssh over NATS', s.executor);
    const ratios = {
      p50: s.executor.p50 / s.bare.p50,
      p99: s.executor.p99 / s.bare.p99,
      p50VsWrapped: s.executor.p50 / s.bareWrapped.p50,
      overheadP50Ms: s.executor.p50 - s.bare.p50,
      target: 1.3,
    };
    console.log(
      `ratio vs bare exec: p50 ${ratios.p50.toFixed(2)}×, p99 ${ratios.p99.toFixed(2)}× (target ≤ ${ratios.target}×; +${fmt(ratios.overheadP50Ms)} at p50); ` +
        `vs the same wrapper over bare ssh2: p50 ${ratios.p50VsWrapped.toFixed(2)}×`,
    );
    record('executorSsh', { calls: N, ...s, ratios, note: 'client, NATS, sshd and the executor share the same two cores' });
  } finally {
    client.end();
    await h.close();
  }
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
