import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Stats {
  count: number;
  p50: number;
  p99: number;
  mean: number;
}

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), mean: sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length) };
}

/** Times `fn` `n` times after `warmup` calls; returns per-call milliseconds. */
export function timeSync(fn: () => unknown, n: number, warmup = Math.min(1000, n)): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return samples;
}

export async function timeAsync(fn: () => Promise<unknown>, n: number, warmup = Math.min(200, n)): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return samples;
}

/** Runs `total` calls with `concurrency` closed-loop workers; latencies in ms and calls/s. */
export async function load(
  fn: () => Promise<unknown>,
  total: number,
  concurrency: number,
  /** Where the latencies go (a caller may collect several runs in one list). */
  samples: number[] = [],
): Promise<Stats & { throughput: number; seconds: number }> {
  const first = samples.length;
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const start = process.hrtime.bigint();
        await fn();
        samples.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { ...stats(samples.slice(first)), throughput: total / seconds, seconds };
}

export const RESULTS_DIR = join(__dirname, 'results');

/** Merges this bench's section into bench/results/latest.json. */
export function record(section: string, value: unknown): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, 'latest.json');
  let current: Record<string, unknown> = {};
  try {
    current = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    current = {};
  }
  current[section] = { ...(value as object), measuredAt: new Date().toISOString() };
  writeFileSync(file, `${JSON.stringify(current, null, 2)}\n`);
}

export const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);

/** Prints `name  p50 …  p99 …`, names padded to `width` so a bench's lines align. */
export function statsLine(width: number): (name: string, v: { p50: number; p99: number }) => void {
  return (name, v) => console.log(`${name.padEnd(width)} p50 ${fmt(v.p50).padStart(9)}  p99 ${fmt(v.p99).padStart(9)}`);
}

/** Runs a bench and exits with its outcome: pools and child processes must not keep it alive. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

/**
 * Times the variants in rounds, one call of each per round in a rotating order, so that
 * load from anything else on the machine falls on all of them alike. A variant prepares
 * its call untimed (policy signs tickets in production) and returns it.
 */
export async function interleaved<K extends string>(variants: Record<K, () => () => Promise<unknown>>, n: number, warmup = 50): Promise<Record<K, number[]>> {
  const names = Object.keys(variants) as K[];
  const samples = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round < warmup + n; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(round + i) % names.length] as K;
      const call = variants[name]();
      const start = process.hrtime.bigint();
      await call();
      if (round >= warmup) samples[name].push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  }
  return samples;
}

export type LoadResult = Stats & { throughput: number };

/**
 * Closed-loop load on several variants at once, interleaved: `total` calls each at
 * `concurrency`, cut into `slices` runs that alternate between the variants in a rotating
 * order, so that whatever else loads the machine falls on all of them alike. Latencies and
 * throughput are over all of a variant's slices.
 */
export async function interleavedLoad<K extends string>(
  variants: Record<K, () => Promise<unknown>>,
  total: number,
  concurrency: number,
  slices = 10,
): Promise<Record<K, LoadResult>> {
  const names = Object.keys(variants) as K[];
  const samples = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<K, number[]>;
  const seconds = Object.fromEntries(names.map((name) => [name, 0])) as Record<K, number>;
  const perSlice = Math.max(concurrency, Math.ceil(total / slices));
  for (let slice = 0; slice < slices; slice++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(slice + i) % names.length] as K;
      const result = await load(variants[name], perSlice, concurrency, samples[name]);
      seconds[name] += result.seconds;
    }
  }
  return Object.fromEntries(names.map((name) => [name, { ...stats(samples[name]), throughput: samples[name].length / seconds[name] }])) as Record<K, LoadResult>;
}
