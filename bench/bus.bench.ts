/**
 * One bus request's cost (issue 19): `NatsBus.request` (replies on one shared inbox) against
 * nats.js's own `request` (what NatsBus used before), to the same echo responder on the same
 * NATS, interleaved in rounds. CPU is the requester's and the responder's together (both in
 * this process); wall time is per request at concurrency 1.
 *
 * And one JetStream publish's: nats.js's `js.publish` (what JetStreamAuditSink used before)
 * against the sink's request on the shared inbox with the same headers and its ack check, both
 * into a memory stream of this bench's own (not AUDIT: other processes chain that). CPU here is
 * the publisher's alone: the NATS server stores the message.
 */
import assert from 'node:assert/strict';
import { connectNats, NatsBus, pubAckProblem, requestOnSharedInbox } from '@rungate/messaging';
import { headers as natsHeaders, StorageType } from 'nats';
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
  const stream = `BENCH_BUS_${process.pid}`;
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: stream, subjects: [`${prefix}.js.>`], storage: StorageType.Memory, duplicate_window: 120_000_000_000 });
  const js = nc.jetstream();
  const event = new TextEncoder().encode(JSON.stringify({ v: 1, type: 'audit.run.decided', source: 'bench', runId: 'x'.repeat(36), params: { id: '42' } }));
  let published = 0;
  const variants: Record<string, () => Promise<unknown>> = {
    'nats.js request': () => nc.request(`${prefix}.echo`, encoded, { timeout: 5000 }),
    'NatsBus.request': () => bus.request('echo', payload, Echoed, { timeoutMs: 5000 }),
    'js.publish': () => js.publish(`${prefix}.js.decided`, event, { msgID: `m${++published}`, expect: { streamName: stream }, timeout: 5000 }),
    'inbox publish': async () => {
      const headers = natsHeaders();
      headers.set('Nats-Msg-Id', `m${++published}`);
      headers.set('Nats-Expected-Stream', stream);
      const ack = await requestOnSharedInbox(nc, { subject: `${prefix}.js.decided`, name: 'decided', data: event, headers, timeoutMs: 5000 });
      assert.equal(pubAckProblem(ack.data, stream), undefined);
      return ack;
    },
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
  await jsm.streams.delete(stream);
  await nc.close();
  await server.close();
}

runBench(main);
