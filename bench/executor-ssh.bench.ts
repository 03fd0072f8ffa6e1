/**
 * executor-ssh (issue 5): a trivial runbook (`echo ok`) through the executor — ticket
 * verified, run id claimed, `audit.run.started` acked, one exec session on a pooled
 * connection, `audit.run.completed` acked, reply over NATS — against ssh2 `exec` of `echo ok`
 * on an already-open connection to the same sshd, in the same run.
 *
 * Two more lines attribute the difference: exactly what the executor sends (`exec sh -s` and
 * the script with its pgid line) over bare ssh2, and the SSH adapter alone (`open` then `run`,
 * in sequence: pool, session, output collection; no ticket, ledger, audit or NATS). Over NATS
 * the pipeline overlaps `open` with the run-id claim and the ack of `started` (ADR 9). The
 * adapter and the executor run on a connection with its default warm spare session (`open`
 * takes a shell already waiting), and once more on one with `warmSessions: 0` (`open` opens
 * the session). All are measured in interleaved rounds, call by call, so a change in the
 * machine's load hits them alike.
 */
import { readFileSync } from 'node:fs';
import { loadConfig } from '@rungate/config';
import { Client } from 'ssh2';
import { ExecutorHarness } from '../libs/services/executor-ssh/src/testing/executor-harness';
import { remoteCommand, remoteScript } from '../libs/services/executor-ssh/src/lib/remote-script';
import { SshAdapter } from '../libs/services/executor-ssh/src/lib/ssh.adapter';
import { SshTargets } from '../libs/services/executor-ssh/src/lib/ssh-targets';
import { fmt, interleaved, record, runBench, stats, statsLine } from './support';

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
  const h = await ExecutorHarness.create('bench', {
    connections: ({ sshd }) =>
      `  - name: host-cold\n    type: ssh\n    host: 127.0.0.1\n    port: ${sshd.port}\n    user: ${sshd.user}\n    hostKey: "${sshd.hostKey}"\n    privateKey: file:${sshd.clientKeyFile}\n    warmSessions: 0\n`,
  });
  const client = await connect(h);
  const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
  const adapter = new SshAdapter(new SshTargets(quiet), quiet);
  try {
    await h.startReplica();
    const connections = loadConfig(h.configFile).connections;
    const connection = connections.find((c) => c.name === 'host');
    const cold = connections.find((c) => c.name === 'host-cold');
    if (connection?.type !== 'ssh' || cold?.type !== 'ssh') throw new Error('rungate.yaml has no ssh connections "host" and "host-cold"');
    const claims = h.claims(BODY);
    const coldClaims = h.claims(BODY, { connection: { name: 'host-cold', type: 'ssh' } });
    // Interleaved call by call, so the four see the same load; each call's ticket is signed
    // untimed just before it (policy signs tickets in production).
    const samples = await interleaved(
      {
        bare: () => () => exec(client, BODY),
        bareWrapped: () => () => exec(client, remoteCommand(), remoteScript({}, BODY)),
        adapter: () => async () => {
          // What the pipeline calls: open (the session, while it records the start), then run.
          const prepared = adapter.prepare(claims, BODY, connection);
          const { signal } = new AbortController();
          await adapter.open(prepared, signal);
          await adapter.run(prepared, signal);
        },
        adapterCold: () => async () => {
          const prepared = adapter.prepare(coldClaims, BODY, cold);
          const { signal } = new AbortController();
          await adapter.open(prepared, signal);
          await adapter.run(prepared, signal);
        },
        executor: () => {
          const ticket = h.sign(BODY);
          return async () => {
            const result = await h.exec(ticket);
            if (result.output.kind !== 'process' || result.output.stdout !== 'ok\n') throw new Error(`unexpected output ${JSON.stringify(result.output)}`);
          };
        },
        executorCold: () => {
          const ticket = h.sign(BODY, { on: 'host-cold' });
          return async () => {
            const result = await h.exec(ticket);
            if (result.output.kind !== 'process' || result.output.stdout !== 'ok\n') throw new Error(`unexpected output ${JSON.stringify(result.output)}`);
          };
        },
      },
      N,
    );
    const [bare, wrapped, alone, executor] = [samples.bare, samples.bareWrapped, samples.adapter, samples.executor];
    const s = {
      bare: stats(bare),
      bareWrapped: stats(wrapped),
      adapter: stats(alone),
      executor: stats(executor),
      adapterCold: stats(samples.adapterCold),
      executorCold: stats(samples.executorCold),
    };
    const line = statsLine(44);
    line('ssh2 exec `echo ok`, live connection (bare)', s.bare);
    line('ssh2 exec of the executor\'s wrapper (bare)', s.bareWrapped);
    line('SSH adapter alone, open + run (no pipeline)', s.adapter);
    line('  the same, warmSessions: 0 (no spare)', s.adapterCold);
    line('executor-ssh over NATS', s.executor);
    line('  the same, warmSessions: 0 (no spare)', s.executorCold);
    const ratios = {
      p50: s.executor.p50 / s.bare.p50,
      p99: s.executor.p99 / s.bare.p99,
      p50VsWrapped: s.executor.p50 / s.bareWrapped.p50,
      adapterP50: s.adapter.p50 / s.bare.p50,
      overheadP50Ms: s.executor.p50 - s.bare.p50,
      pipelineP50Ms: s.executor.p50 - s.adapter.p50,
      coldP50: s.executorCold.p50 / s.bare.p50,
      target: 1.3,
    };
    console.log(
      `ratio vs bare exec: p50 ${ratios.p50.toFixed(2)}×, p99 ${ratios.p99.toFixed(2)}× (target ≤ ${ratios.target}×; +${fmt(ratios.overheadP50Ms)} at p50); ` +
        `vs the same wrapper over bare ssh2: p50 ${ratios.p50VsWrapped.toFixed(2)}×; adapter alone ${ratios.adapterP50.toFixed(2)}×, ` +
        `so pipeline + NATS add ${fmt(ratios.pipelineP50Ms)} at p50; without the warm spare p50 ${ratios.coldP50.toFixed(2)}×`,
    );
    record('executorSsh', { calls: N, ...s, ratios, note: 'client, NATS, sshd and the executor share the same two cores' });
  } finally {
    client.end();
    await adapter.close();
    await h.close();
  }
}

runBench(main);
