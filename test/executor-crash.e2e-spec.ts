import { randomUUID } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { AuditEvent } from '@rungate/contracts';
import { connectNats, decodeJson } from '@rungate/messaging';
import { createRunbookRepository, createTestDatabase, eventually, serviceArgs, startProcess, type ServiceProcess, type TestDatabase } from '@rungate/testing';
import type { NatsConnection } from 'nats';
import { Client as PgClient } from 'pg';
import { mcpClient, newToken, startStack, type Stack } from './support/stack';

const SLOW_MARK = `-- @description Records a mark, then holds its transaction open
-- @timeout 60s
INSERT INTO marks (note) VALUES ('{{ .note }}');
SELECT pg_sleep(15);
`;
const COUNT_MARKS = `-- @readonly
SELECT count(*)::int AS marks FROM marks;
`;
const IDEMPOTENCY_META_KEY = 'io.rungate/idempotencyKey';

function text(result: Awaited<ReturnType<Client['callTool']>>): string {
  const content = result.content as { type: string; text?: string }[];
  return content.map((c) => c.text ?? '').join('\n');
}

/**
 * Issue 5: an executor killed mid-run, with a second replica in the same queue group. The
 * agent gets a clear "outcome unknown" within the run's timeout (the executor's heartbeats
 * stop, so the gateway does not wait out the 60 s), the run is audited as such, and a retry
 * with the same idempotency key is refused by the surviving replica instead of running a
 * second time.
 */
describe('an executor replica killed mid-run', () => {
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
    const repo = createRunbookRepository({ 'pg/slow_mark.runbook.sql': SLOW_MARK, 'pg/count_marks.runbook.sql': COUNT_MARKS });
    stack = await startStack({
      env: { CRASH_DB_URL: target.url, DATABASE_URL: auditDb.url },
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
      if ((await c.listTools()).tools.length < 2) throw new Error('catalog not loaded yet');
      return c;
    }).catch((error: Error) => {
      throw new Error(`${error.message}\n${stack.logs()}\n${second.output()}`);
    });
    // Both replicas answer before the test starts.
    await eventually(async () => {
      if (!second.output().includes('executor-postgres started')) throw new Error('second replica not up yet');
    });
  });

  afterAll(async () => {
    await client?.close();
    await nc?.drain();
    await second?.stop();
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
});
