import { randomUUID } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { AUDIT_STREAM } from '@rungate/contracts';
import { connectNats, decodeJson } from '@rungate/messaging';
import { createRunbookRepository, eventually, startNatsServer, startRestartablePostgres, type RestartableCluster, type TestNatsServer } from '@rungate/testing';
import { DeliverPolicy, type NatsConnection } from 'nats';
import { Client as PgClient } from 'pg';
import { catalogClient, newToken, restartService, resultText, runCli, startStack, type CallResult, type Stack } from '../support/stack';
import { recordFigures, size } from './figures';

const CALLS = size('RELIABILITY_SOAK_CALLS', 1000, 10_000);
const CONCURRENCY = size('RELIABILITY_SOAK_CONCURRENCY', 16, 16);
/** How long one call may keep retrying (the same idempotency key) through an outage. */
const CALL_DEADLINE_MS = 120_000;
const IDEMPOTENCY_META_KEY = 'io.rungate/idempotencyKey';
/** Progress on stderr while it runs: a soak is long, and a stall should be visible as one. */
const progress = (line: string) => process.stderr.write(`soak ${new Date().toISOString()} ${line}\n`);

const RECORD = `-- @description Soak: records one execution with the run id it ran as
INSERT INTO soak_exec (call_key, app) VALUES ('{{ .call | required "call" }}', current_setting('application_name'));
`;

type Final = 'succeeded' | 'failed' | 'outcome_unknown' | 'replayed' | 'gave_up';
interface CallRecord {
  key: string;
  final: Final;
  attempts: number;
  lastText: string;
}

async function query<T extends Record<string, unknown>>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const db = new PgClient({ connectionString: url });
  await db.connect();
  try {
    return (await db.query<T>(sql, values)).rows;
  } finally {
    await db.end();
  }
}

/** What the checks read of each event on the AUDIT stream. */
interface StreamedEvent {
  seq: number;
  id: string;
  type: string;
  runId?: string;
  status?: string;
  source: string;
}

/** Every message of the AUDIT stream, in order, through an ordered consumer. */
async function readStream(nc: NatsConnection): Promise<StreamedEvent[]> {
  const { state } = await (await nc.jetstreamManager()).streams.info(AUDIT_STREAM);
  const out: StreamedEvent[] = [];
  if (state.messages === 0) return out;
  const consumer = await nc.jetstream().consumers.get(AUDIT_STREAM, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: state.first_seq });
  const messages = await consumer.consume({ max_messages: 1000 });
  for await (const message of messages) {
    const event = decodeJson(message.data) as { id: string; type: string; source: string; runId?: string; outcome?: { status?: string } };
    out.push({ seq: message.seq, id: event.id, type: event.type, source: event.source, ...(event.runId ? { runId: event.runId } : {}), ...(event.outcome?.status ? { status: event.outcome.status } : {}) });
    if (message.seq >= state.last_seq) break;
  }
  await messages.close();
  return out;
}

/**
 * A run's events by type. A refusal (the run id already claimed) is `refused`, not an end of the run;
 * the gateway's "outcome unknown" (its wait for the executor cut short by an outage) is `guessed`:
 * a guess the executor's own report supersedes (run-status.ts), so not an end. The executor's own
 * `unknown` (its target went away while committing) is a definite end: nobody can know more.
 */
function eventsByRun(stream: StreamedEvent[]): Map<string, string[]> {
  const byRun = new Map<string, string[]>();
  for (const event of stream) {
    if (!event.runId) continue;
    const guessed = event.status === 'unknown' && event.source === 'gateway';
    const kind = event.status === 'refused' ? `${event.type}:refused` : guessed ? `${event.type}:guessed` : event.type;
    byRun.set(event.runId, [...(byRun.get(event.runId) ?? []), kind]);
  }
  return byRun;
}

/** How many of a run's events are a definite end: the executor's completed or failed (outcome unknown included). */
const definiteEnds = (types: string[]) => types.filter((t) => t === 'audit.run.completed' || t === 'audit.run.failed').length;

/** The runs on the stream that started and have no definite end. */
function startedWithoutEnd(stream: StreamedEvent[]): string[][] {
  return [...eventsByRun(stream).values()].filter((types) => types.includes('audit.run.started') && definiteEnds(types) === 0);
}

/**
 * Issue 20, soak: CALLS tools/call at CONCURRENCY through the distributed mode (a process per
 * service over NATS), while the audit service is killed and restarted, NATS is restarted and
 * PostgreSQL (the services' own database and the target's) is restarted, each once, mid-run.
 * NATS and PostgreSQL are this suite's own servers, so restarting them disturbs nothing else.
 * Every call is a client that retries with the same idempotency key until it gets an answer.
 * Afterwards the target's rows, the AUDIT stream and the audit projection must agree: no
 * execution without its write-ahead audit.run.started, no audit event lost, nothing run twice.
 */
describe(`soak: ${CALLS} calls at concurrency ${CONCURRENCY} while audit, NATS and PostgreSQL restart`, () => {
  let nats: TestNatsServer;
  let pg: RestartableCluster;
  let stack: Stack;
  let auditUrl: string;
  let targetUrl: string;
  const clients: Client[] = [];
  const alice = newToken();

  beforeAll(async () => {
    nats = await startNatsServer();
    pg = await startRestartablePostgres();
    await query(pg.url, 'CREATE DATABASE rungate');
    await query(pg.url, 'CREATE DATABASE target');
    auditUrl = pg.urlOf('rungate');
    targetUrl = pg.urlOf('target');
    await query(targetUrl, 'CREATE TABLE soak_exec (id bigserial PRIMARY KEY, call_key text NOT NULL, app text NOT NULL)');
    const repo = createRunbookRepository({ 'pg/record.runbook.sql': RECORD });
    stack = await startStack({
      env: { NATS_URL: nats.url, DATABASE_URL: auditUrl, SOAK_DB_URL: targetUrl },
      // This suite's stream starts empty: the projection must hold all of it.
      audit: { deliver: 'all' },
      gateway: { callTimeout: '30s' },
      readyTimeoutMs: 120_000,
      config: () => `
repositories: [{ name: soak, url: ${repo.dir} }]
connections: [{ name: target, type: postgres, url: env:SOAK_DB_URL }]
users: [{ name: alice@example.com, groups: [engineering] }]
tokens: [{ sha256: "${alice.sha256}", user: alice@example.com, agent: soak }]
rules: [{ name: engineering, groups: [engineering], connections: [target], runbooks: ["soak/**"] }]
`,
    });
    for (let i = 0; i < CONCURRENCY; i++) clients.push(await catalogClient(stack, alice.token));
  }, 180_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await stack?.stop();
    await pg?.stop();
    await nats?.stop();
  });

  async function callUntilAnswered(client: Client, key: string): Promise<CallRecord> {
    const deadline = Date.now() + CALL_DEADLINE_MS;
    let attempts = 0;
    let lastText = '';
    while (Date.now() < deadline) {
      attempts++;
      try {
        const result = (await client.callTool({ name: 'soak.pg.record', arguments: { call: key }, _meta: { [IDEMPOTENCY_META_KEY]: key } }, undefined, { timeout: 60_000 })) as CallResult;
        lastText = resultText(result);
        if (!result.isError) return { key, final: 'succeeded', attempts, lastText };
        if (lastText.startsWith('OUTCOME_UNKNOWN')) return { key, final: 'outcome_unknown', attempts, lastText };
        if (lastText.startsWith('TICKET_REPLAYED')) return { key, final: 'replayed', attempts, lastText };
        // A run that ran and failed (its database went away mid-statement) is an answer.
        if (lastText.startsWith('EXECUTION_FAILED') || (result.structuredContent && 'runId' in result.structuredContent)) return { key, final: 'failed', attempts, lastText };
      } catch (error) {
        lastText = (error as Error).message;
      }
      // Unavailable (NATS, policy, the audit stream or a database restarting): try again, same key.
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return { key, final: 'gave_up', attempts, lastText };
  }

  it('loses nothing, runs nothing twice and runs nothing unaudited', async () => {
    const records: CallRecord[] = [];
    let next = 0;
    const restarts: { what: string; atCall: number; tookMs: number }[] = [];
    const plan: { at: number; what: string; restart: () => Promise<unknown> }[] = [
      { at: Math.floor(CALLS * 0.2), what: 'audit', restart: () => restartService(stack, 'audit') },
      { at: Math.floor(CALLS * 0.45), what: 'nats', restart: () => nats.restart() },
      { at: Math.floor(CALLS * 0.7), what: 'postgres', restart: () => pg.restart() },
    ];
    // Calls more than a tenth of the run past a restart's start wait for it to finish: each restart
    // happens with calls in flight, and calls follow it.
    const done = plan.map(() => {
      let finish = () => undefined as void;
      const promise = new Promise<void>((resolve) => (finish = resolve));
      return { promise, finish };
    });
    const faults = (async () => {
      for (const [index, step] of plan.entries()) {
        await eventually(async () => {
          if (records.length < step.at) throw new Error(`${records.length} of ${step.at} calls done`);
        }, 30 * 60_000, 50);
        const began = Date.now();
        progress(`restarting ${step.what} after ${records.length} calls`);
        await step.restart();
        progress(`${step.what} back after ${Date.now() - began} ms`);
        restarts.push({ what: step.what, atCall: records.length, tookMs: Date.now() - began });
        done[index]?.finish();
      }
    })();
    const began = Date.now();
    await Promise.all(
      clients.map(async (client) => {
        while (next < CALLS) {
          next++;
          const call = next;
          for (const [index, step] of plan.entries()) if (call > step.at + CALLS / 10) await done[index]?.promise;
          records.push(await callUntilAnswered(client, randomUUID()));
          if (records.length % 100 === 0) progress(`${records.length} calls answered (${records.filter((r) => r.final !== 'succeeded').length} not succeeded)`);
        }
      }),
    );
    const loadMs = Date.now() - began;
    await faults;
    progress(`load done in ${loadMs} ms; checking the record`);

    // Every service is still up; the projection catches up with the stream.
    for (const p of stack.processes) expect({ service: p.name, exitCode: p.child.exitCode }).toEqual({ service: p.name, exitCode: null });
    const nc = await connectNats({ url: nats.url, name: 'soak-reader' });
    try {
      // A run's outcome may still be on its way: an executor retries it for 60 s (pipeline.ts),
      // and the last calls can be answered before it lands. Wait that long, and a bit, for every
      // started run to have its executor's end; one that never gets it is still reported below.
      await eventually(
        async () => {
          const open = startedWithoutEnd(await readStream(nc));
          if (open.length > 0) throw new Error(`${open.length} started runs without an end yet`);
        },
        90_000,
        1000,
      ).catch(() => progress('some started runs still have no end after 90 s'));
      await eventually(
        async () => {
          const { state } = await (await nc.jetstreamManager()).streams.info(AUDIT_STREAM);
          const [row] = await query<{ max: string | null }>(auditUrl, 'SELECT max(seq)::text AS max FROM audit_events');
          if (Number(row?.max ?? 0) !== state.last_seq) throw new Error(`projection at ${row?.max}, stream at ${state.last_seq}`);
        },
        180_000,
        500,
      );
      progress('projection caught up');
      const stream = await readStream(nc);
      progress(`read ${stream.length} stream events`);
      const table = await query<{ seq: string; id: string }>(auditUrl, 'SELECT seq::text, id FROM audit_events ORDER BY seq');
      const rows = await query<{ call_key: string; app: string }>(targetUrl, 'SELECT call_key, app FROM soak_exec');

      const streamIds = new Set(stream.map((m) => m.id));
      const tableIds = new Set(table.map((r) => r.id));
      const byRun = eventsByRun(stream);
      const runOf = (app: string) => app.replace(/^rungate:/, '');
      const rowsByKey = new Map<string, string[]>();
      for (const row of rows) rowsByKey.set(row.call_key, [...(rowsByKey.get(row.call_key) ?? []), runOf(row.app)]);

      // Lost: an event on one side only, or a call answered "succeeded" whose execution or completion is not on the record.
      const notInTable = [...streamIds].filter((id) => !tableIds.has(id));
      const notOnStream = [...tableIds].filter((id) => !streamIds.has(id));
      const succeeded = records.filter((r) => r.final === 'succeeded');
      const succeededUnrecorded = succeeded.filter((r) => {
        const runs = rowsByKey.get(r.key) ?? [];
        return runs.length === 0 || !runs.every((run) => byRun.get(run)?.includes('audit.run.completed'));
      });
      // Unaudited: a row written by a run with no audit.run.started (the write-ahead record) on the stream.
      const unaudited = rows.filter((row) => !byRun.get(runOf(row.app))?.includes('audit.run.started'));
      // Double: a call whose body ran more than once, or a run started, or ended, more than once.
      const doubleCalls = [...rowsByKey.values()].filter((runs) => runs.length > 1);
      const startedTwice = [...byRun.values()].filter((types) => types.filter((t) => t === 'audit.run.started').length > 1);
      const endedTwice = [...byRun.values()].filter((types) => definiteEnds(types) > 1);
      // The executors stay up through the soak, so every started run gets the executor's definite end.
      const startedNeverEnded = startedWithoutEnd(stream);
      // For the one reading a failure: what each service said about such a run.
      for (const [runId, types] of byRun) {
        if (!types.includes('audit.run.started') || definiteEnds(types) > 0) continue;
        for (const p of stack.processes) for (const line of p.output().split('\n')) if (line.includes(runId)) progress(`${p.name}: ${line}`);
      }

      const verify = await runCli(['audit', 'verify', '--stream'], { env: { ...process.env, DATABASE_URL: auditUrl, NATS_URL: nats.url } });

      const finals: Record<string, number> = {};
      for (const r of records) finals[r.final] = (finals[r.final] ?? 0) + 1;
      const figures = {
        calls: records.length,
        concurrency: CONCURRENCY,
        restarts: restarts.length,
        restartedAtCall: Object.fromEntries(restarts.map((r) => [r.what, r.atCall])),
        restartMs: Object.fromEntries(restarts.map((r) => [r.what, r.tookMs])),
        finals,
        retriedCalls: records.filter((r) => r.attempts > 1).length,
        executions: rows.length,
        auditEvents: stream.length,
        lost: notInTable.length + notOnStream.length + succeededUnrecorded.length,
        double: doubleCalls.length + startedTwice.length + endedTwice.length,
        unaudited: unaudited.length,
        startedNeverEnded: startedNeverEnded.length,
        verifyExit: verify.code ?? -1,
        loadSeconds: Math.round(loadMs / 100) / 10,
      };
      recordFigures('soak', figures);

      expect(records).toHaveLength(CALLS);
      expect(restarts.map((r) => r.what)).toEqual(['audit', 'nats', 'postgres']);
      expect(records.filter((r) => r.final === 'gave_up')).toEqual([]);
      expect({ notInTable, notOnStream, succeededUnrecorded: succeededUnrecorded.map((r) => r.key) }).toEqual({ notInTable: [], notOnStream: [], succeededUnrecorded: [] });
      expect(unaudited).toEqual([]);
      expect({ doubleCalls, startedTwice, endedTwice }).toEqual({ doubleCalls: [], startedTwice: [], endedTwice: [] });
      expect(startedNeverEnded).toEqual([]);
      // The outages are seconds long: most calls get through, every execution is one answered call.
      expect(succeeded.length).toBeGreaterThan(CALLS / 2);
      expect(rows.length).toBeGreaterThanOrEqual(succeeded.length);
      expect(verify).toMatchObject({ code: 0, stdout: expect.stringMatching(/^intact: \d+ events.*\nmatches the AUDIT stream: \d+ events compared/s) });
    } finally {
      await nc.close();
    }
  });
});
