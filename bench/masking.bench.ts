/**
 * Masking (issue 17): what the executor's output stage costs.
 *
 * 1. A 10,000-row SELECT through executor-postgres over NATS, interleaved with and without
 *    the masking profile `pii` of the harness (e-mail, card, IBAN detectors and the column
 *    rule users.phone, so the source-column lookup is paid too). Target: masked ≤ 1.3× unmasked.
 * 2. maskRunOutput alone on that result (no database, no bus).
 * 3. Detector throughput in MB/s on log-like text, every detector together and one at a
 *    time, and on inputs built to make a backtracking regex slow (long digit runs, many @,
 *    long separated digit groups) at 1 and 4 MB, to show the cost stays linear.
 */
import { MaskingProfileConfig, BuiltInEntity, type MaskingStrategy } from '@rungate/config';
import type { SqlOutput } from '@rungate/contracts';
import { compileMaskingProfile, maskRunOutput, maskText, MaskingTally } from '@rungate/masking';
import { ExecutorHarness } from '../libs/services/executor-postgres/src/testing/executor-harness';
import { fmt, interleaved, record, runBench, stats, statsLine, timeSync } from './support';

const ROWS = 10_000;
const N = Number(process.env['BENCH_CALLS'] ?? 60);
// Rows kept small enough that 10,000 of them fit one NATS message (1 MiB) with the reply around them.
const BODY = 'SELECT id, email, pay, phone, day FROM users ORDER BY id';
const SEED = `CREATE TABLE users AS
  SELECT g AS id,
         'u' || g || '@example.com' AS email,
         CASE WHEN g % 10 = 0 THEN '4111 1111 1111 1111' WHEN g % 25 = 0 THEN 'DE89370400440532013000' ELSE 'n/a' END AS pay,
         '+4420794' || lpad(g::text, 5, '0') AS phone,
         current_date - (g % 365) AS day
    FROM generate_series(1, ${ROWS}) AS g`;

const LIMITS = { timeoutMs: 30_000, maxRows: 20_000, maxBytes: 1024 * 1024 };

function profileOf(entities: Partial<Record<BuiltInEntity, MaskingStrategy>>) {
  return compileMaskingProfile(MaskingProfileConfig.parse({ name: 'bench', entities }));
}

/** Log lines, one in four carrying a value some detector masks. */
function logText(bytes: number): string {
  const lines = [
    '2024-05-01T12:00:00.123Z INFO request handled in 12 ms status=200 path=/api/v1/orders/1234',
    '2024-05-01T12:00:00.456Z WARN retrying upstream 10.0.3.17:5432 after timeout (attempt 2 of 5)',
    '2024-05-01T12:00:01.789Z INFO user alice@example.com paid with 4111 1111 1111 1111 order=98765',
    '2024-05-01T12:00:02.012Z DEBUG cache hit ratio 0.93 for key orders:by-customer:4417 size=2048',
    '2024-05-01T12:00:02.345Z INFO refund to DE89 3704 0044 0532 0130 00 call +44 20 7946 0958 ok',
    '2024-05-01T12:00:03.678Z INFO Authorization: Bearer abcdefghijklmnopqrstuvwx host 2001:db8::1',
    '2024-05-01T12:00:04.901Z INFO batch 77 finished: 1500 rows, 0 errors, took 842 ms on worker-3',
    '2024-05-01T12:00:05.234Z ERROR job 4411 failed: timeout after 30000 ms; will retry at 12:05:00',
  ];
  let text = '';
  for (let i = 0; text.length < bytes; i++) text += `${lines[i % lines.length]}\n`;
  return text;
}

const ADVERSARIAL: Record<string, (bytes: number) => string> = {
  'digits only': (bytes) => '7'.repeat(bytes),
  'separated digit groups': (bytes) => '12 '.repeat(Math.ceil(bytes / 3)),
  'at signs and dots': (bytes) => 'a@b.'.repeat(Math.ceil(bytes / 4)),
  'colons and hex': (bytes) => 'ab:'.repeat(Math.ceil(bytes / 3)),
  'one long word': (bytes) => 'x'.repeat(bytes),
};

function throughput(text: string, profile: ReturnType<typeof profileOf>, runs: number): number {
  const samples = timeSync(() => maskText(text, profile, new MaskingTally()), runs, 1);
  const seconds = stats(samples).p50 / 1000;
  return Buffer.byteLength(text) / (1024 * 1024) / seconds;
}

async function main(): Promise<void> {
  const h = await ExecutorHarness.create('bench_masking');
  try {
    await h.query(SEED);
    await h.startReplica();
    const claim = h.maskingClaim('pii');
    const connection = { name: 'bulk-db', type: 'postgres' as const };
    const sample = await h.exec(h.sign(BODY, { connection, limits: LIMITS }));
    if (sample.output.kind !== 'sql' || sample.output.rows.length !== ROWS || sample.output.truncated) throw new Error(`expected ${ROWS} rows, got ${JSON.stringify(sample.output).slice(0, 200)}`);
    const masked = await h.exec(h.sign(BODY, { connection, limits: LIMITS, masking: claim }));
    console.log(`first row unmasked ${JSON.stringify(sample.output.rows[9])}\n          masked   ${JSON.stringify(masked.output.kind === 'sql' ? masked.output.rows[9] : null)}`);

    const samples = await interleaved(
      {
        unmasked: () => {
          const request = h.sign(BODY, { connection, limits: LIMITS });
          return () => h.exec(request);
        },
        masked: () => {
          const request = h.sign(BODY, { connection, limits: LIMITS, masking: claim });
          return () => h.exec(request);
        },
      },
      N,
      5,
    );
    const s = { unmasked: stats(samples.unmasked), masked: stats(samples.masked) };
    const line = statsLine(44);
    line(`executor-postgres, ${ROWS} rows, no masking`, s.unmasked);
    line(`executor-postgres, ${ROWS} rows, profile pii`, s.masked);
    const ratio = { p50: s.masked.p50 / s.unmasked.p50, p99: s.masked.p99 / s.unmasked.p99, mean: s.masked.mean / s.unmasked.mean };
    console.log(`masked / unmasked: p50 ${ratio.p50.toFixed(2)}×, p99 ${ratio.p99.toFixed(2)}×, mean ${ratio.mean.toFixed(2)}× (target ≤ 1.3×)`);

    // The output stage alone, on the same rows (with their source columns, as the adapter gives them).
    const pii = compileMaskingProfile(MaskingProfileConfig.parse({ name: 'pii', entities: { email: 'redact', credit_card: 'mask', iban: 'partial' }, columns: ['ssn', 'users.phone'] }));
    const output = sample.output as SqlOutput;
    const stage = stats(timeSync(() => maskRunOutput(output, pii, new MaskingTally(), LIMITS.maxBytes), 30, 5));
    line('maskRunOutput alone, same rows', stage);

    const text = logText(4 * 1024 * 1024);
    const all = profileOf(Object.fromEntries(BuiltInEntity.options.map((kind) => [kind, 'redact'])));
    const detectors: Record<string, number> = { all: throughput(text, all, 5) };
    for (const kind of BuiltInEntity.options) detectors[kind] = throughput(text, profileOf({ [kind]: 'redact' }), 5);
    console.log(`detector throughput on 4 MB of log lines (MB/s): ${Object.entries(detectors).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
    const adversarial: Record<string, { '1MB': number; '4MB': number }> = {};
    for (const [name, make] of Object.entries(ADVERSARIAL)) {
      adversarial[name] = { '1MB': throughput(make(1024 * 1024), all, 3), '4MB': throughput(make(4 * 1024 * 1024), all, 3) };
      console.log(`adversarial "${name}": ${adversarial[name]['1MB'].toFixed(1)} MB/s at 1 MB, ${adversarial[name]['4MB'].toFixed(1)} MB/s at 4 MB`);
    }
    record('masking', { rows: ROWS, calls: N, ...s, ratio, maskRunOutputMs: stage, throughputMBps: detectors, adversarialMBps: adversarial, note: `${fmt(s.masked.p50 - s.unmasked.p50)} added at p50` });
  } finally {
    await h.close();
  }
}

runBench(main);
