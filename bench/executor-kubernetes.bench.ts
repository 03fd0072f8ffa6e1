/**
 * executor-kubernetes (issue 5): a trivial shell runbook through the executor — ticket
 * verified, run id claimed, `audit.run.started` acked, the pod chosen (a pod list), `sh -s`
 * over the exec WebSocket, `audit.run.completed` acked, reply over NATS — against a bare
 * client-node `Exec` of the same script into the same pod of the same local API server, in
 * the same run. The fake API server really runs `sh -s` on this machine for both.
 */
import { PassThrough, Writable } from 'node:stream';
import { Exec, KubeConfig } from '@kubernetes/client-node';
import { KubernetesHarness, NAMESPACE } from '../libs/services/executor-kubernetes/src/testing/executor-harness';
import { fmt, interleaved, record, stats } from './support';

const N = Number(process.env['BENCH_CALLS'] ?? 500);
const SCRIPT = 'echo ok\n';
const WARMUP = 50;

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}

async function main(): Promise<void> {
  const h = await KubernetesHarness.create('bench');
  try {
    h.server.addPod(NAMESPACE, { name: 'toolbox-0', labels: { app: 'toolbox', tier: 'ops' } });
    await h.startReplica();
    const kc = new KubeConfig();
    kc.loadFromString(h.server.kubeconfig());

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
      const response = await fetch(`${h.server.url}/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=${encodeURIComponent('app=toolbox,tier in (ops, debug)')}`, { headers: opts.headers });
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
    const line = (name: string, v: { p50: number; p99: number }) => console.log(`${name.padEnd(40)} p50 ${fmt(v.p50).padStart(9)}  p99 ${fmt(v.p99).padStart(9)}`);
    line('client-node Exec (bare)', s.bareExec);
    line('pod list + client-node Exec (bare)', s.bareListAndExec);
    line('executor-kubernetes over NATS', s.executor);
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
    record('executorKubernetes', { calls: N, ...s, ratios, note: 'fake API server on loopback runs sh -s locally; client, NATS, server and executor share two cores' });
  } finally {
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
