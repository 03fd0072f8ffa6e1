/**
 * executor-kubernetes (issue 5): a trivial shell runbook through the executor — ticket
 * verified, run id claimed, `audit.run.started` acked, the pod chosen (a pod list), `sh -s`
 * over the exec WebSocket, `audit.run.completed` acked, reply over NATS — against a bare
 * client-node `Exec` of the same script into the same pod of the same local API server, in
 * the same run. The fake API server really runs `sh -s` on this machine for both.
 *
 * The fake API server runs in a child process, as an API server is not in the executor's
 * process: in-process, its frame handling and `sh -s` spawning share the one event loop with
 * the executor and weigh on the run with the more work in flight (the executor).
 * BENCH_K8S_IN_PROCESS=1 runs it in this process, as this bench did before.
 *
 * The connection keeps its default one warm exec session (runs after the first take an
 * `sh -s` already open in the pod); BENCH_K8S_WARM_SESSIONS=0 measures every run opening its
 * own (the pod list and the exec handshake overlapping the run's admission).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough, Writable } from 'node:stream';
import { Exec, KubeConfig } from '@kubernetes/client-node';
import { KubernetesHarness, NAMESPACE } from '../libs/services/executor-kubernetes/src/testing/executor-harness';
import type { FakePod } from '../libs/services/executor-kubernetes/src/testing/fake-api-server';
import { fmt, interleaved, record, runBench, stats, statsLine } from './support';

const N = Number(process.env['BENCH_CALLS'] ?? 500);
const SCRIPT = 'echo ok\n';
const WARMUP = 50;
const IN_PROCESS = process.env['BENCH_K8S_IN_PROCESS'] === '1';
const SELECTOR = 'app=toolbox,tier in (ops, debug)';
const POD: FakePod = { name: 'toolbox-0', labels: { app: 'toolbox', tier: 'ops' } };
const WARM_SESSIONS = process.env['BENCH_K8S_WARM_SESSIONS'] === undefined ? undefined : Number(process.env['BENCH_K8S_WARM_SESSIONS']);

interface ApiServer {
  url: string;
  kubeconfig: string;
  harness: KubernetesHarness;
  close(): Promise<void>;
}

/** The fake API server in this process, with the harness's own configuration. */
async function inProcess(): Promise<ApiServer> {
  const harness = await KubernetesHarness.create('bench');
  harness.server.addPod(NAMESPACE, POD);
  return { url: harness.server.url, kubeconfig: harness.server.kubeconfig(), harness, close: () => harness.close() };
}

/** The fake API server in a child process; the executor reaches it through a kubeconfig file, as a real cluster. */
async function childProcess(): Promise<ApiServer> {
  const script = join(__dirname, '../libs/services/executor-kubernetes/src/testing/fake-api-server.process.ts');
  const child: ChildProcess = spawn(process.execPath, ['-r', 'ts-node/register', '-r', 'tsconfig-paths/register', script, JSON.stringify([{ namespace: NAMESPACE, pod: POD }])], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: process.env,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the fake API server exited (${code})`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', resolve);
  });
  const { url, kubeconfig } = JSON.parse(line) as { url: string; kubeconfig: string };
  const dir = mkdtempSync(join(tmpdir(), 'rg-k8s-bench-'));
  const kubeconfigFile = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigFile, kubeconfig);
  const harness = await KubernetesHarness.create('bench', { realCluster: { kubeconfigFile, namespace: NAMESPACE, selector: SELECTOR, warmSessions: WARM_SESSIONS } });
  return {
    url,
    kubeconfig,
    harness,
    close: async () => {
      await harness.close();
      child.stdin?.end();
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}

async function main(): Promise<void> {
  const api = await (IN_PROCESS ? inProcess() : childProcess());
  const h = api.harness;
  try {
    await h.startReplica();
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig);

    // What a caller with the cluster credentials would do: one exec, the script on stdin, closed.
    const bareExec = () =>
      new Promise<void>((resolve, reject) => {
        const stdin = new PassThrough();
        stdin.end(SCRIPT);
        new Exec(kc).exec(NAMESPACE, 'toolbox-0', 'main', ['sh', '-s'], discard(), discard(), stdin, false, (status) => {
          if (status.status === 'Success') resolve();
          else reject(new Error(JSON.stringify(status)));
        }).catch(reject);
      });
    // The same plus the pod lookup the executor does on every run.
    const bareListAndExec = async () => {
      const opts: { headers?: Record<string, string> } = {};
      await kc.applyToHTTPSOptions(opts);
      const response = await fetch(`${api.url}/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=${encodeURIComponent(SELECTOR)}`, { headers: opts.headers });
      await response.json();
      await bareExec();
    };
    // Policy signs tickets in production; each call's ticket is signed untimed, just before it.
    const executor = () => {
      const ticket = h.sign(SCRIPT, 'k8s/bench.runbook.sh');
      return async () => {
        const result = await h.exec(ticket);
        if (result.output.kind !== 'process' || result.output.exitCode !== 0) throw new Error(JSON.stringify(result));
      };
    };
    // Interleaved, so the three see the same load on a machine shared with other work.
    const samples = await interleaved({ bareExec: () => bareExec, bareListAndExec: () => bareListAndExec, executor }, N, WARMUP);
    const s = { bareExec: stats(samples.bareExec), bareListAndExec: stats(samples.bareListAndExec), executor: stats(samples.executor) };
    const line = statsLine(40);
    line('client-node Exec (bare)', s.bareExec);
    line('pod list + client-node Exec (bare)', s.bareListAndExec);
    line('executor-kubernetes over NATS', s.executor);
    console.log(`fake API server ${IN_PROCESS ? 'in this process (BENCH_K8S_IN_PROCESS=1)' : 'in a child process'}; warmSessions ${WARM_SESSIONS ?? '1 (default)'}`);
    const ratios = {
      p50VsExec: s.executor.p50 / s.bareExec.p50,
      p99VsExec: s.executor.p99 / s.bareExec.p99,
      p50VsListAndExec: s.executor.p50 / s.bareListAndExec.p50,
      p99VsListAndExec: s.executor.p99 / s.bareListAndExec.p99,
      overheadP50Ms: s.executor.p50 - s.bareExec.p50,
    };
    console.log(
      `ratio p50 ${ratios.p50VsExec.toFixed(2)}× p99 ${ratios.p99VsExec.toFixed(2)}× vs bare Exec (+${fmt(ratios.overheadP50Ms)} at p50); ` +
        `p50 ${ratios.p50VsListAndExec.toFixed(2)}× vs pod list + Exec — target ≤ 1.3× vs bare Exec`,
    );
    record('executorKubernetes', {
      calls: N,
      ...s,
      ratios,
      apiServer: IN_PROCESS ? 'in-process' : 'child-process',
      warmSessions: WARM_SESSIONS ?? 1,
      note: `fake API server on loopback (${IN_PROCESS ? 'in the bench process' : 'its own process'}) runs sh -s locally; client, NATS, server and executor share two cores`,
    });
  } finally {
    await api.close();
  }
}

runBench(main);
