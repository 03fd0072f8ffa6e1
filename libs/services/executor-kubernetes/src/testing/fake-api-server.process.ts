/**
 * The fake API server in a process of its own, for benches: so the API server's work (the
 * WebSocket frames, spawning `sh -s`) does not share the event loop of the executor or the
 * client it measures. Pods are given as JSON in argv[2] (`[{ namespace, pod }]`); it prints one
 * JSON line `{ url, kubeconfig }` and serves until its stdin ends or it is sent SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import { FakeApiServer, type FakePod } from './fake-api-server';

async function main(): Promise<void> {
  const fake = await FakeApiServer.start({ token: `tok-${randomBytes(16).toString('hex')}` });
  const pods = JSON.parse(process.argv[2] ?? '[]') as { namespace: string; pod: FakePod }[];
  for (const { namespace, pod } of pods) fake.addPod(namespace, pod);
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    void fake.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ url: fake.url, kubeconfig: fake.kubeconfig() })}\n`);
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
