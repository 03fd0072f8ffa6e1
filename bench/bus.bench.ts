/**
 * One bus request's cost (issue 19): `NatsBus.request` (replies on one shared inbox) against
 * nats.js's own `request` (what NatsBus used before), to the same echo responder on the same
 * NATS, interleaved in rounds. CPU is the requester's and the responder's together (both in
 * this process); wall time is per request at concurrency 1.
 */
import { connectNats, NatsBus } from '@rungate/messaging';
import { z } from 'zod';
import { runBench, stats } from './support';

const PER_ROUND = 1000;
const Echoed = z.object({ bearer: z.string() });
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 9);

async function main(): Promise<void> {
  const prefix = `bench.bus.${process.pid}`;
  const nc = await connectNats({ name: 'bench-bus' });
  const server = await connectNats({ name: 'bench-bus-echo' });
  server.subscribe(`${prefix}.echo`, { callback: (_error, message) => message.respond(message.data) });
  await server.flush();
  const bus = new NatsBus(nc, prefix);
  const payload = { ok: true, value: { bearer: 'x'.repeat(40) } };
  const encoded = new TextEncoder().encode(JSON.stringify(payload));
  const variants: Record<string, () => Promise<unknown>> = {
    'nats.js request': () => nc.request(`${prefix}.echo`, encoded, { timeout: 5000 }),
    'NatsBus.request': () => bus.request('echo', payload, Echoed, { timeoutMs: 5000 }),
  };
  const cpu: Record<string, number[]> = {};
  const wall: Record<string, number[]> = {};
  const names = Object.keys(variants);
  for (let round = 0; round <= ROUNDS; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(round + i) % names.length] as string;
      const fn = variants[name] as () => Promise<unknown>;
      const cpuBefore = process.cpuUsage();
      const start = process.hrtime.bigint();
      for (let n = 0; n < PER_ROUND; n++) await fn();
      const used = process.cpuUsage(cpuBefore);
      // Round 0 warms both up.
      if (round === 0) continue;
      (cpu[name] ??= []).push((used.user + used.system) / PER_ROUND);
      (wall[name] ??= []).push(Number(process.hrtime.bigint() - start) / 1e3 / PER_ROUND);
    }
  }
  for (const name of names) {
    console.log(`${name.padEnd(16)} CPU ${stats(cpu[name] ?? []).p50.toFixed(1).padStart(6)} µs/request  wall ${stats(wall[name] ?? []).p50.toFixed(1).padStart(6)} µs/request (medians of ${ROUNDS} rounds of ${PER_ROUND})`);
  }
  await nc.close();
  await server.close();
}

runBench(main);
