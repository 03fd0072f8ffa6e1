import { randomUUID } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { AuditEvent } from '@rungate/contracts';
import { connectNats, decodeJson } from '@rungate/messaging';
import { createRunbookRepository, createTestDatabase, eventually, serviceArgs, startProcess, type ServiceProcess, type TestDatabase } from '@rungate/testing';
import type { NatsConnection } from 'nats';
import { Client as PgClient } from 'pg';
import { mcpClient, newToken, resultText, startStack, type CallResult, type Stack } from '../support/stack';
import { recordFigures, size } from './figures';

const SLOW_MARK = `-- @description Records a mark, then holds its transaction open
-- @timeout 60s
INSERT INTO marks (note) VALUES ('{{ .note }}');
SELECT pg_sleep(15);
`;
const MARK_WAIT_DIVIDE = `-- @description Records a mark, waits, then divides (by zero fails the run)
-- @timeout 60s
INSERT INTO marks (note) VALUES ('{{ .note }}');
SELECT pg_sleep({{ .seconds | type "number" }});
SELECT 1 / {{ .divisor | type "number" }} AS quotient;
`;
const COUNT_MARKS = `-- @readonly
SELECT count(*)::int AS marks FROM marks;
`;
const IDEMPOTENCY_META_KEY = 'io.rungate/idempotencyKey';

const text = (result: Awaited<ReturnType<Client['callTool']>>) => resultText(result as CallResult);
/** Calls in flight when both replicas are killed: a third succeed, a third fail, a third are running. */
const WAVE = size('RELIABILITY_CRASH_RUNS', 12, 60);

/**
 * Issue 5: an executor killed mid-run, with a second replica in the same queue group. The
 * agent gets a clear "outcome unknown" within the run's timeout (the executor's heartbeats
 * stop, so the gateway does not wait out the 60 s), the run is audited as such, and a retry
 * with the same idempotency key is refused by the surviving replica instead of running a
 * second time.
 */
describe('executor replicas killed mid-run', () => {
  let target: TestDatabase;
  let auditDb: TestDatabase;
  let stack: Stack;
  let second: ServiceProcess;
  let client: Client;
  let nc: NatsConnection;
  const events: AuditEvent[] = [];
  const alice = newToken();

  beforeAll(async () => {
    target = await createTestDatabase('rgcrash_target');
    auditDb = await createTestDatabase('rgcrash_audit');
    const db = new PgClient({ connectionString: target.url });
    await db.connect();
    await db.query('CREATE TABLE marks (id serial PRIMARY KEY, note text NOT NULL)');
    await db.end();
    const repo = createRunbookRepository({ 'pg/slow_mark.runbook.sql': SLOW_MARK, 'pg/count_marks.runbook.sql': COUNT_MARKS, 'pg/mark_wait_divide.runbook.sql': MARK_WAIT_DIVIDE });
    stack = await startStack({
      env: { CRASH_DB_URL: target.url, DATABASE_URL: auditDb.url },
      readyTimeoutMs: 120_000,
      config: () => `
repositories: [{ name: crash, url: ${repo.dir} }]
connections: [{ name: app-db, type: postgres, url: env:CRASH_DB_URL }]
users: [{ name: alice@example.com, groups: [engineering] }]
tokens: [{ sha256: "${alice.sha256}", user: alice@example.com, agent: claude-code }]
rules: [{ name: engineering, groups: [engineering], connections: [app-db], runbooks: ["crash/**"] }]
`,
    });
    second = startProcess('executor-postgres-2', process.execPath, serviceArgs('executor-postgres'), stack.env);
    nc = await connectNats({ name: 'executor-crash-e2e' });
    nc.subscribe('audit.run.>', {
      callback: (error, msg) => {
        const parsed = error ? undefined : AuditEvent.safeParse(decodeJson(msg.data));
        if (parsed?.success) events.push(parsed.data);
      },
    });
    await nc.flush();
    client = await eventually(async () => {
      const c = await mcpClient(stack.gatewayUrl, alice.token);
      if ((await c.listTools()).tools.length < 3) throw new Error('catalog not loaded yet');
      return c;
    }).catch((error: Error) => {
      throw new Error(`${error.message}\n${stack.logs()}\n${second.output()}`);
    });
    // Both replicas answer before the test starts.
    await eventually(async () => {
      if (!second.output().includes('executor-postgres started')) throw new Error('second replica not up yet');
    });
  });

  const replicas: ServiceProcess[] = [];

  afterAll(async () => {
    await client?.close();
    await nc?.drain();
    await second?.stop();
    for (const replica of replicas) await replica.stop();
    await stack?.stop();
    await target?.drop();
    await auditDb?.drop();
  });

  async function query<T extends Record<string, unknown>>(sql: string, values: unknown[] = []): Promise<T[]> {
    const db = new PgClient({ connectionString: target.url });
    await db.connect();
    try {
      return (await db.query<T>(sql, values)).rows;
    } finally {
      await db.end();
    }
  }

  it('answers "outcome unknown", audits it, and never runs a retry with the same idempotency key', async () => {
    const key = randomUUID();
    const call = (note: string) => client.callTool({ name: 'crash.pg.slow_mark', arguments: { note }, _meta: { [IDEMPOTENCY_META_KEY]: key } }, undefined, { timeout: 60_000 });
    const first = call('first attempt');

    const started = await eventually(async () => {
      const event = events.find((e) => e.type === 'audit.run.started' && e.runbook?.path === 'pg/slow_mark.runbook.sql');
      if (!event?.runId) throw new Error('the run has not started yet');
      return event;
    });
    const runId = started.runId as string;
    const replica = String(started.details?.['executor']);
    const pid = Number(replica.split('/')[1]);
    const victim = [...stack.processes, second].find((p) => p.child.pid === pid);
    expect(victim).toBeDefined();
    await eventually(async () => {
      if ((await query('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [`rungate:${runId}`])).length === 0) throw new Error('body not running yet');
    });
    victim?.child.kill('SIGKILL');
    const killedAt = Date.now();

    const answer = await first;
    // The body sleeps 15 s under a 60 s limit: only the missing heartbeats explain an answer before either.
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    expect(answer.isError).toBe(true);
    expect(text(answer)).toMatch(/^OUTCOME_UNKNOWN: .*stopped reporting.*outcome is unknown.*A retry with the same idempotency key will not run it again/s);
    expect(text(answer)).toContain(runId);

    const unknown = await eventually(async () => {
      const event = events.find((e) => e.runId === runId && e.type === 'audit.run.failed');
      if (!event) throw new Error('no terminal event yet');
      return event;
    });
    expect(unknown).toMatchObject({ source: 'gateway', actor: { user: 'alice@example.com', agent: 'claude-code' }, outcome: { status: 'unknown', errorCode: 'OUTCOME_UNKNOWN' } });

    // The retry (the same call, the same key) reaches the surviving replica (the only one
    // left), which refuses the claimed run id. The same key with other arguments would be an
    // IDEMPOTENCY_CONFLICT, refused by policy before any executor (hostile-input.e2e-spec).
    const retry = await call('first attempt');
    expect(retry.isError).toBe(true);
    expect(text(retry)).toMatch(/^TICKET_REPLAYED: run .* was already executed; it will not run again/);
    expect(events.filter((e) => e.runId === runId && e.type === 'audit.run.started')).toHaveLength(1);

    // The killed run's transaction never committed (its backend goes once it notices the dead
    // client), and the retry added nothing.
    await eventually(async () => {
      if ((await query('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [`rungate:${runId}`])).length > 0) throw new Error('backend still there');
    }, 30_000);
    expect(await query('SELECT note FROM marks')).toEqual([]);

    // The surviving replica still serves.
    const count = await client.callTool({ name: 'crash.pg.count_marks', arguments: {} });
    expect(count.isError).toBeFalsy();
    expect(count.structuredContent).toMatchObject({ rows: [{ marks: 0 }] });
  });

  async function startReplica(name: string): Promise<ServiceProcess> {
    const replica = startProcess(name, process.execPath, serviceArgs('executor-postgres'), stack.env);
    replicas.push(replica);
    await eventually(async () => {
      if (replica.child.exitCode !== null) throw new Error(`${name} exited: ${replica.output()}`);
      if (!replica.output().includes('executor-postgres started')) throw new Error(`${name} not up yet`);
    }, 60_000);
    return replica;
  }

  it(`${WAVE} runs in flight when every replica is killed: each ends succeeded, failed or outcome_unknown, once; retries never re-run`, async () => {
    // Two fresh replicas in the queue group (the first test left one).
    const [a, b] = [await startReplica('executor-postgres-a'), await startReplica('executor-postgres-b')];
    const live = [...stack.processes.filter((p) => p.name === 'executor-postgres'), second].filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    type Kind = 'quick' | 'failing' | 'slow';
    const calls = Array.from({ length: WAVE }, (_, i) => {
      const kind: Kind = (['quick', 'failing', 'slow'] as const)[i % 3] as Kind;
      const args = { note: `wave-${kind}-${i}-${randomUUID()}`, seconds: kind === 'slow' ? 20 : 0, divisor: kind === 'failing' ? 0 : 1 };
      return { kind, args, key: randomUUID() };
    });
    const callOf = (c: (typeof calls)[number]) => client.callTool({ name: 'crash.pg.mark_wait_divide', arguments: c.args, _meta: { [IDEMPOTENCY_META_KEY]: c.key } }, undefined, { timeout: 90_000 });
    const answers = calls.map((c) => callOf(c));
    const runIdOf = (note: string) => events.find((e) => e.type === 'audit.run.started' && e.params?.['note'] === note)?.runId;

    // Every quick and failing run has answered, every slow one is in its body; then no replica survives.
    const early = Promise.all(answers.filter((_, i) => calls[i]?.kind !== 'slow'));
    await early;
    await eventually(async () => {
      const slow = calls.filter((c) => c.kind === 'slow').map((c) => runIdOf(c.args.note));
      if (slow.some((id) => id === undefined)) throw new Error('not every slow run has started');
      const running = await query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ANY($1)", [slow.map((id) => `rungate:${id}`)]);
      if (running[0]?.n !== slow.length) throw new Error(`${running[0]?.n} of ${slow.length} slow bodies running`);
    }, 60_000);
    for (const replica of [...live, a, b]) replica.child.kill('SIGKILL');
    const killedAt = Date.now();
    const first = await Promise.all(answers);
    // The slow bodies sleep 20 s: only the missing heartbeats explain answers before then.
    expect(Date.now() - killedAt).toBeLessThan(20_000);

    const outcomeOf = (answer: (typeof first)[number]): string => {
      const structured = (answer as CallResult).structuredContent;
      if (!answer.isError) return 'succeeded';
      if (text(answer).startsWith('OUTCOME_UNKNOWN')) return 'outcome_unknown';
      // A run that failed on the target: the executor's typed report, or a failed result.
      return text(answer).startsWith('EXECUTION_FAILED') || (structured && 'runId' in structured) ? 'failed' : `other: ${text(answer)}`;
    };
    expect(first.map(outcomeOf)).toEqual(calls.map((c) => ({ quick: 'succeeded', failing: 'failed', slow: 'outcome_unknown' })[c.kind]));

    // The audit trail: each run started once and ended once, as it was answered.
    const runIds = calls.map((c) => runIdOf(c.args.note) as string);
    expect(new Set(runIds).size).toBe(WAVE);
    const ends = await eventually(async () => {
      const terminal = runIds.map((id) => events.filter((e) => e.runId === id && (e.type === 'audit.run.completed' || e.type === 'audit.run.failed') && e.outcome?.status !== 'refused'));
      if (terminal.some((t) => t.length === 0)) throw new Error('not every run has ended on the record yet');
      return terminal;
    }, 30_000);
    expect(ends.map((t) => t.map((e) => e.outcome?.status))).toEqual(calls.map((c) => [({ quick: 'succeeded', failing: 'failed', slow: 'unknown' })[c.kind]]));

    // A fresh replica takes the retries: the same calls with the same keys. None runs again.
    await startReplica('executor-postgres-c');
    const retries = await Promise.all(calls.map((c) => callOf(c)));
    expect(retries.map((r) => (r.isError ? text(r).split(':')[0] : 'ran again'))).toEqual(calls.map(() => 'TICKET_REPLAYED'));
    for (const id of runIds) expect(events.filter((e) => e.runId === id && e.type === 'audit.run.started')).toHaveLength(1);

    // Only the quick runs committed, each once; the killed ones rolled back once their backends went.
    await eventually(async () => {
      const running = await query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'rungate:%'");
      if (running[0]?.n !== 0) throw new Error('killed backends still there');
    }, 60_000);
    const marks = await query<{ note: string; n: number }>("SELECT note, count(*)::int AS n FROM marks WHERE note LIKE 'wave-%' GROUP BY note ORDER BY note");
    expect(marks).toEqual(calls.filter((c) => c.kind === 'quick').map((c) => ({ note: c.args.note, n: 1 })).sort((x, y) => x.note.localeCompare(y.note)));

    recordFigures('executor-crash', {
      calls: WAVE * 2 + 2,
      // The first test's victim, then every replica of the wave.
      killed: 1 + live.length + 2,
      double: runIds.filter((id) => events.filter((e) => e.runId === id && e.type === 'audit.run.started').length > 1).length,
      endedTwice: ends.filter((t) => t.length > 1).length,
      outcomes: Object.fromEntries(['succeeded', 'failed', 'outcome_unknown'].map((o) => [o, first.filter((answer) => outcomeOf(answer) === o).length])),
      retriesReplayed: retries.filter((r) => text(r).startsWith('TICKET_REPLAYED')).length,
    });
  });
});
