/**
 * Issue 3's benchmark, against the built git-sync service process:
 *   - parse + index a repository of 10,000 runbooks: seconds from a new commit to its
 *     catalog.updated, and the process's peak memory;
 *   - commit → catalog.updated by polling (interval 1 s) and by a signed webhook.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CatalogUpdatedEvent, Subjects } from '@rungate/contracts';
import { connectNats, decodeJson, scopedSubject, subjectPrefix } from '@rungate/messaging';
import { createRunbookRepository, freePort, serviceArgs, startProcess } from '@rungate/testing';
import { record, stats } from './support';

const RUNBOOKS = Number(process.env['BENCH_RUNBOOKS'] ?? 10_000);
const ROUNDS = 5;

function runbook(i: number): string {
  return `-- @description Task ${i}\n-- @readonly\nSELECT id, name FROM items_${i % 50} WHERE id = {{ .id | type "number" | required }} AND tag = '{{ .tag | options "a" "b" | default "a" }}';\n`;
}

async function main(): Promise<void> {
  process.env['RUNGATE_SUBJECT_PREFIX'] ??= `bench${process.pid}`;
  const repo = createRunbookRepository({ 'README.md': 'bench\n' });
  const dir = mkdtempSync(join(tmpdir(), 'rg-gsbench-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'rungate.yaml'),
    `repositories: [{ name: big, url: ${repo.dir}, pollInterval: 1s, webhookSecret: env:BENCH_HOOK }]\ngitSync: { cacheDir: ${join(dir, 'cache')}, port: ${port} }\n`,
  );
  const nc = await connectNats({ name: 'git-sync-bench' });
  const updates: { commit: string; at: number }[] = [];
  nc.subscribe(scopedSubject(Subjects.catalogUpdated, subjectPrefix()), {
    callback: (_e, msg) => {
      const event = CatalogUpdatedEvent.safeParse(decodeJson(msg.data));
      if (event.success) updates.push({ commit: event.data.commit, at: performance.now() });
    },
  });
  const waitFor = async (commit: string, timeoutMs = 120_000) => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const hit = updates.find((u) => u.commit === commit);
      if (hit) return hit.at;
      if (performance.now() > deadline) throw new Error(`no catalog.updated for ${commit}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const service = startProcess('git-sync', process.execPath, serviceArgs('git-sync'), {
    ...process.env,
    RUNGATE_CONFIG: join(dir, 'rungate.yaml'),
    BENCH_HOOK: 'bench-secret',
    LOG_LEVEL: 'warn',
  });
  try {
    const first = repo.commit({ 'pg/seed.runbook.sql': runbook(0) });
    await waitFor(first);
    const files: Record<string, string> = {};
    for (let i = 1; i <= RUNBOOKS; i++) files[`pg/team${i % 100}/task_${i}.runbook.sql`] = runbook(i);
    const bulk = repo.commit(files, 'ten thousand runbooks');
    const started = performance.now();
    const indexedAt = await waitFor(bulk);
    const indexSeconds = (indexedAt - started) / 1000;
    const status = readFileSync(`/proc/${service.child.pid}/status`, 'utf8');
    const peakMiB = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;

    const polling: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const commit = repo.commit({ [`pg/poll_${round}.runbook.sql`]: runbook(round) });
      const t0 = performance.now();
      polling.push((await waitFor(commit)) - t0);
    }
    const webhook: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const commit = repo.commit({ [`pg/hook_${round}.runbook.sql`]: runbook(round) });
      const body = JSON.stringify({ ref: 'refs/heads/main', after: commit });
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/hooks/git/big`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${createHmac('sha256', 'bench-secret').update(body).digest('hex')}` },
        body,
      });
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
      webhook.push((await waitFor(commit)) - t0);
    }
    const result = {
      runbooks: RUNBOOKS,
      indexSeconds: Number(indexSeconds.toFixed(3)),
      peakMemoryMiB: Number(peakMiB.toFixed(1)),
      pollingMs: stats(polling),
      webhookMs: stats(webhook),
    };
    console.log(`index ${RUNBOOKS} runbooks: ${indexSeconds.toFixed(2)} s, git-sync peak memory ${peakMiB.toFixed(0)} MiB`);
    console.log(`commit → catalog.updated by polling (1 s): p50 ${result.pollingMs.p50.toFixed(0)} ms, max ${Math.max(...polling).toFixed(0)} ms   target ≤ 2000 ms`);
    console.log(`commit → catalog.updated by webhook:       p50 ${result.webhookMs.p50.toFixed(0)} ms, max ${Math.max(...webhook).toFixed(0)} ms   target ≤ 300 ms`);
    record('gitSync', result);
    console.log(JSON.stringify({ indexSeconds: result.indexSeconds, peakMemoryMiB: result.peakMemoryMiB, pollingP50Ms: result.pollingMs.p50, webhookP50Ms: result.webhookMs.p50 }));
  } finally {
    await service.stop();
    await nc.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
