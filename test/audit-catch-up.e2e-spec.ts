import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { AUDIT_STREAM } from '@rungate/contracts';
import { connectNats } from '@rungate/messaging';
import { openDatabase, verifyStoredChain } from '@rungate/persistence';
import { createRunbookRepository, createTestDatabase, eventually, RUNGATE_BIN, serviceArgs, startProcess, type ServiceProcess, type TestDatabase } from '@rungate/testing';
import type { NatsConnection } from 'nats';
import { Client as PgClient } from 'pg';
import type { DataSource } from 'typeorm';
import { PrivateNatsServer } from '../libs/audit-sinks/src/testing/nats-server';
import { catalogClient, newToken, startStack, type Stack } from './support/stack';

const CALLS = 1000;
const CONCURRENCY = 8;
const MARK = `-- @description Records call number n
INSERT INTO marks (n) VALUES ({{ .n | type "number" | required "n" }});
`;

/**
 * Issue 6, catch-up: the audit service is stopped while 1,000 calls go through the real path
 * (MCP → gateway → policy → executor-postgres); started again, it writes every one of them
 * exactly once, in stream order, and the chain verifies — against the stream too. The stack
 * runs on a NATS server of the test's own, so the stream holds only this test's events.
 */
describe('the audit service catches up after an outage', () => {
  const nats = new PrivateNatsServer();
  let target: TestDatabase;
  let auditDb: TestDatabase;
  let stack: Stack;
  let client: Client;
  let nc: NatsConnection;
  let db: DataSource;
  let restarted: ServiceProcess | undefined;
  const alice = newToken();

  beforeAll(async () => {
    await nats.start();
    target = await createTestDatabase('rgcatchup_target');
    auditDb = await createTestDatabase('rgcatchup_audit');
    const pg = new PgClient({ connectionString: target.url });
    await pg.connect();
    await pg.query('CREATE TABLE marks (n int PRIMARY KEY)');
    await pg.end();
    const repo = createRunbookRepository({ 'pg/mark.runbook.sql': MARK });
    stack = await startStack({
      env: { NATS_URL: nats.url, CATCH_UP_DB_URL: target.url, DATABASE_URL: auditDb.url, LOG_LEVEL: 'warn' },
      config: () => `
repositories: [{ name: cu, url: ${repo.dir} }]
connections: [{ name: app-db, type: postgres, url: env:CATCH_UP_DB_URL, pool: { max: 8 } }]
users: [{ name: alice@example.com, groups: [engineering] }]
tokens: [{ sha256: "${alice.sha256}", user: alice@example.com, agent: claude-code }]
rules: [{ name: engineering, groups: [engineering], connections: [app-db], runbooks: ["cu/**"] }]
`,
    });
    nc = await connectNats({ url: nats.url, name: 'catch-up-e2e' });
    db = await openDatabase(auditDb.url);
    client = await catalogClient(stack, alice.token);
  });

  afterAll(async () => {
    await client?.close();
    await restarted?.stop();
    await stack?.stop();
    await nc?.close();
    await db?.destroy();
    await nats.stop();
    await target?.drop();
    await auditDb?.drop();
  });

  it(`writes all ${CALLS} runs exactly once when it comes back, and the chain verifies`, async () => {
    const audit = stack.processes.find((p) => p.name === 'audit') as ServiceProcess;
    await audit.stop();
    const [{ n: rowsBefore }] = (await db.query('SELECT count(*)::int AS n FROM audit_events')) as { n: number }[];

    let next = 0;
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < CALLS) {
          const n = next++;
          const result = (await client.callTool({ name: 'cu.pg.mark', arguments: { n, connection: 'app-db' } })) as { isError?: boolean; content: { text?: string }[] };
          if (result.isError) failures.push(`${n}: ${result.content.map((c) => c.text).join(' ')}`);
        }
      }),
    );
    expect(failures).toEqual([]);
    const pg = new PgClient({ connectionString: target.url });
    await pg.connect();
    expect((await pg.query('SELECT count(*)::int AS n FROM marks')).rows[0].n).toBe(CALLS);
    await pg.end();
    // Nothing was written while the audit service was down.
    expect((await db.query('SELECT count(*)::int AS n FROM audit_events'))[0].n).toBe(rowsBefore);

    restarted = startProcess('audit-restarted', process.execPath, serviceArgs('audit'), stack.env);
    const jsm = await nc.jetstreamManager();
    const { state } = await jsm.streams.info(AUDIT_STREAM);
    await eventually(async () => {
      if (restarted?.child.exitCode !== null) throw new Error(`audit exited: ${restarted?.output()}`);
      const [{ last }] = (await db.query('SELECT coalesce(max(seq), 0)::bigint AS last FROM audit_events')) as { last: string }[];
      expect(Number(last)).toBeGreaterThanOrEqual(state.last_seq);
    }, 60_000);

    // Every run: decided, started, completed — once each, in that order.
    const runs: { run_id: string; types: string[] }[] = await db.query(
      `SELECT run_id, array_agg(type ORDER BY seq) AS types FROM audit_events WHERE path = 'pg/mark.runbook.sql' GROUP BY run_id`,
    );
    expect(runs).toHaveLength(CALLS);
    for (const run of runs) expect(run.types).toEqual(['audit.run.decided', 'audit.run.started', 'audit.run.completed']);
    const marked: { n: string }[] = await db.query(`SELECT params->>'n' AS n FROM audit_events WHERE type = 'audit.run.completed' AND path = 'pg/mark.runbook.sql'`);
    expect(new Set(marked.map((m) => Number(m.n)))).toEqual(new Set(Array.from({ length: CALLS }, (_, i) => i)));
    // Exactly once: one row per stream message from the table's first on, no gaps.
    const [span] = (await db.query('SELECT count(*)::int AS rows, min(seq)::bigint AS first, max(seq)::bigint AS last FROM audit_events')) as { rows: number; first: string; last: string }[];
    expect(span?.rows).toBe(Number(span?.last) - Number(span?.first) + 1);
    await expect(verifyStoredChain(db)).resolves.toMatchObject({ ok: true, checked: span?.rows });

    const verify = await promisify(execFile)(process.execPath, [RUNGATE_BIN, 'audit', 'verify', '--database', auditDb.url, '--stream'], {
      env: { ...process.env, NATS_URL: nats.url },
    });
    expect(verify.stdout).toMatch(new RegExp(`^intact: ${span?.rows} events, head [0-9a-f]{64}\\nmatches the AUDIT stream: ${span?.rows} events compared`));
  });
});
