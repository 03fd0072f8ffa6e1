import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createRunbookRepository, createTestDatabase, eventually, type TestDatabase } from '@rungate/testing';
import { Client as PgClient } from 'pg';
import { TRANSPORTS, catalogClient, mcpClient, newToken, resultText, runCli, startStack, type CallResult, type Stack } from './support/stack';

const RUNBOOKS: Record<string, string> = {
  'reports/orders_by_region.runbook.sql': "-- @readonly\nSELECT count(*) FROM orders WHERE region = '{{ .region | options \"eu\" \"us\" }}';\n",
};

/** Statements an exploration must refuse, and what the agent is told. */
const REFUSED: [string, RegExp][] = [
  ["UPDATE orders SET status = 'lost' WHERE id = 1", /statement is UPDATE; explore_sql runs exactly one read-only statement/],
  ['DELETE FROM orders', /statement is DELETE/],
  ["INSERT INTO orders (id, status, customer, email, region) VALUES (999, 'x', 'x', 'x@example.com', 'eu') RETURNING *", /statement is INSERT/],
  ['WITH gone AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM gone', /contains DELETE \(a data-modifying WITH\)/],
  ["SELECT pg_read_file('/etc/passwd')", /function pg_read_file reads or changes something outside/],
  ['SELECT 1; DELETE FROM orders', /2 statements were sent/],
  ['COPY orders TO STDOUT', /statement is COPY/],
  ["COPY (SELECT 1) TO PROGRAM 'touch /tmp/rungate-e2e'", /statement is COPY/],
  ['SET ROLE postgres', /statement is SET\/RESET/],
  ['SELECT 1 /* ; */ ; DROP TABLE orders -- ;', /2 statements were sent/],
  ["SELECT $x$ '; $x$; DELETE FROM orders; --", /2 statements were sent/],
  ["SELECT 'it''s' AS a; UPDATE orders SET status = 'x'", /2 statements were sent/],
  ['SELECT * FROM orders FOR UPDATE', /FOR UPDATE \/ FOR SHARE takes row locks/],
  ["SELECT set_config('transaction_read_only', 'off', true)", /function set_config/],
  ['EXPLAIN ANALYZE DELETE FROM orders', /EXPLAIN ANALYZE runs the statement it explains/],
];

describe.each(TRANSPORTS)('exploration over %s: read-only tools, sessions, review, propose, backlog', (transport) => {
  let target: TestDatabase;
  let auditDb: TestDatabase;
  let stack: Stack;
  let client: Client;
  let repoDir: string;
  const role = `rg_e2e_explore_${transport.replace('-', '_')}_ro`;
  const alice = newToken();
  const bob = newToken();
  const carol = newToken();
  const dave = newToken();

  async function query<T extends Record<string, unknown>>(sql: string): Promise<T[]> {
    const db = new PgClient({ connectionString: target.url });
    await db.connect();
    try {
      return (await db.query(sql)).rows as T[];
    } finally {
      await db.end();
    }
  }

  /** The target's whole state a write could change: rows, the write log, the catalog's relations. */
  async function state(): Promise<string> {
    const [row] = await query<{ s: string }>(`SELECT concat_ws('|',
      (SELECT md5(string_agg(o::text, ',' ORDER BY o.id)) FROM orders o), (SELECT count(*) FROM write_log),
      (SELECT md5(string_agg(relname, ',' ORDER BY relname)) FROM pg_class WHERE relnamespace = 'public'::regnamespace)) AS s`);
    return row?.s ?? '';
  }

  const explore = async (c: Client, sql: string) => (await c.callTool({ name: 'explore_sql', arguments: { sql } })) as CallResult;
  const cli = (args: string[], token = carol.token) => runCli([...args, '--url', stack.auditApiUrl], { env: { ...process.env, RUNGATE_TOKEN: token } });

  /** One call in an MCP session of its own (a new client), which must succeed. */
  async function exploreOnce(token: string, sql: string): Promise<void> {
    const own = await mcpClient(stack.gatewayUrl, token);
    try {
      expect((await explore(own, sql)).isError).toBeFalsy();
    } finally {
      await own.close();
    }
  }

  /** `rungate sessions list --json` of one user, newest first, once it has at least `count`. */
  function sessionsOf(user: string, count: number, token = carol.token): Promise<{ id: string; calls: number; refused: number }[]> {
    return eventually(async () => {
      const out = await cli(['sessions', 'list', '--user', user, '--json'], token);
      const sessions = out.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { id: string; calls: number; refused: number });
      if (sessions.length < count) throw new Error(`sessions: ${out.stdout}${out.stderr}`);
      return sessions;
    });
  }

  beforeAll(async () => {
    target = await createTestDatabase('rge2e_explore_target');
    auditDb = await createTestDatabase('rge2e_explore_audit');
    await query(`
      CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, customer text NOT NULL, email text NOT NULL, region text NOT NULL, created date NOT NULL DEFAULT '2026-11-01');
      INSERT INTO orders SELECT g, CASE WHEN g % 4 = 0 THEN 'stuck' ELSE 'shipped' END, 'customer ' || g, 'c' || g || '@example.com', CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 40) g;
      CREATE TABLE write_log (op text NOT NULL);
      CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO write_log VALUES (TG_OP); RETURN NULL; END $$;
      CREATE TRIGGER orders_log AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON orders FOR EACH STATEMENT EXECUTE FUNCTION log_write();
      DO $$ BEGIN CREATE ROLE ${role} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
      GRANT USAGE ON SCHEMA public TO ${role};
      GRANT SELECT ON orders TO ${role};`);
    const repo = createRunbookRepository(RUNBOOKS);
    repoDir = repo.dir;
    stack = await startStack({
      transport,
      env: { APP_DB_URL: target.url, DATABASE_URL: auditDb.url },
      config: () => `
repositories:
  - name: demo
    url: ${repo.dir}
    pollInterval: 1s
connections:
  - name: analytics
    type: postgres
    url: env:APP_DB_URL
    masking: pii
    explore: { role: ${role} }
users:
  - { name: alice@example.com, groups: [oncall] }
  - { name: bob@example.com, groups: [sales] }
  - { name: carol@example.com, groups: [auditors] }
  - { name: dave@example.com, groups: [oncall, auditors] }
tokens:
  - { sha256: "${alice.sha256}", user: alice@example.com, agent: claude-code }
  - { sha256: "${bob.sha256}", user: bob@example.com, agent: sales-bot }
  - { sha256: "${carol.sha256}", user: carol@example.com, agent: review-cli, scopes: [audit:read] }
  - { sha256: "${dave.sha256}", user: dave@example.com, agent: claude-code, scopes: [audit:read] }
rules:
  - name: oncall-explore
    groups: [oncall]
    explore: { connections: [analytics], maxRows: 8, timeout: 2s }
  - name: sales-reports
    groups: [sales]
    connections: [analytics]
    runbooks: ["demo/reports/**"]
    params: { region: [eu] }
masking:
  - { name: pii, entities: { email: redact } }
`,
    });
    client = await catalogClient(stack, alice.token, 2);
  });

  afterAll(async () => {
    await client?.close();
    await stack?.stop();
    await target?.drop();
    await auditDb?.drop();
    const admin = new PgClient({ connectionString: target.url.replace(/\/[^/]*$/, '/test') });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await admin.end();
  });

  it('lists the exploration tools only to the groups a rule grants them, and hides them from everyone else', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['explore_sql', 'explore_schema']));
    expect(names).not.toContain('demo.reports.orders_by_region');
    const sales = await catalogClient(stack, bob.token, 1);
    try {
      expect((await sales.listTools()).tools.map((t) => t.name)).toEqual(['demo.reports.orders_by_region']);
      await expect(explore(sales, 'SELECT 1')).rejects.toThrow(/Unknown tool: explore_sql/);
    } finally {
      await sales.close();
    }
  });

  it('runs a permitted SELECT read-only, masked, capped by the grant', async () => {
    const result = await explore(client, "SELECT id, email, status FROM orders WHERE status = 'stuck' ORDER BY id");
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ kind: 'sql', rowCount: 10, truncated: true });
    const rows = (result.structuredContent as { rows: Record<string, unknown>[] }).rows;
    expect(rows).toEqual([4, 8, 12, 16, 20, 24, 28, 32].map((id) => ({ id, email: '[EMAIL]', status: 'stuck' })));
    expect(resultText(result)).not.toContain('@example.com');
  });

  it('describes the schema before an agent writes a query', async () => {
    const tables = (await client.callTool({ name: 'explore_schema', arguments: {} })) as CallResult;
    expect((tables.structuredContent as { rows: Record<string, unknown>[] }).rows).toEqual([expect.objectContaining({ schema: 'public', name: 'orders', kind: 'table' })]);
    const columns = (await client.callTool({ name: 'explore_schema', arguments: { table: 'orders' } })) as CallResult;
    const rows = (columns.structuredContent as { rows: { part: string; name: string; type: string | null }[] }).rows;
    expect(rows.filter((r) => r.part === 'column').map((r) => `${r.name}:${r.type}`).slice(0, 3)).toEqual(['id:integer', 'status:text', 'customer:text']);
    expect(rows.some((r) => r.part === 'index' && r.name === 'orders_pkey')).toBe(true);
  });

  it.each(REFUSED)('refuses %s with a clear message, and nothing changes', async (sql, reason) => {
    const before = await state();
    const result = await explore(client, sql);
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(/^EXPLORATION_REFUSED: /);
    expect(resultText(result)).toMatch(reason);
    expect(resultText(result)).toMatch(/nothing was run$/);
    expect(await state()).toBe(before);
  });

  it('stops a long query at the grant\'s time limit', async () => {
    const result = await explore(client, 'SELECT pg_sleep(30)');
    expect(result.isError).toBe(true);
    expect(resultText(result)).toMatch(/^TIMEOUT: .*time limit of 2000 ms/);
  });

  it('shows the session as a transcript, lets someone else mark it reviewed, and never the explorer', async () => {
    const session = await eventually(async () => {
      const listed = await cli(['sessions', 'list', '--user', 'alice@example.com', '--json']);
      expect(listed.code).toBe(0);
      const sessions = listed.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { id: string; calls: number; refused: number });
      const [latest] = sessions;
      if (!latest || latest.refused < REFUSED.length) throw new Error(`sessions: ${listed.stdout}${listed.stderr}`);
      return latest;
    });
    // One MCP client is one MCP session, so every call above is in one exploration session.
    expect(session).toMatchObject({ calls: 3 + REFUSED.length + 1, refused: REFUSED.length });
    const shown = await cli(['sessions', 'show', session.id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`session ${session.id}: alice@example.com via claude-code`);
    expect(shown.stdout).toContain("sql: SELECT id, email, status FROM orders WHERE status = 'stuck' ORDER BY id");
    expect(shown.stdout).toMatch(/succeeded: 8 row\(s\) returned of 10, truncated, \d+ bytes, \d+ ms\n\s+masked: email 8/);
    expect(shown.stdout).toContain('refused: function pg_read_file reads or changes something outside');
    expect(shown.stdout).toMatch(/timed_out/);
    expect(shown.stdout).toContain('not reviewed yet');
    const own = await cli(['sessions', 'review', session.id, '--comment', 'looks fine to me'], alice.token);
    expect(own.code).toBe(1);
    expect(own.stderr).toMatch(/FORBIDDEN: alice@example.com may not read the audit trail/);
    const reviewed = await cli(['sessions', 'review', session.id, '--comment', 'read-only triage of stuck orders; the pg_read_file attempt was refused']);
    expect(reviewed).toMatchObject({ code: 0, stdout: expect.stringContaining(`reviewed ${session.id}`) });
    const after = await cli(['sessions', 'show', session.id]);
    expect(after.stdout).toMatch(/reviewed .* by carol@example.com: read-only triage of stuck orders/);
    expect((await cli(['sessions', 'list', '--unreviewed', '--json'])).stdout).not.toContain(session.id);
  });

  it('never lets the explorer review their own session, even an auditor', async () => {
    await exploreOnce(dave.token, 'SELECT 2 AS two');
    const [own] = await sessionsOf('dave@example.com', 1, dave.token);
    const review = await cli(['sessions', 'review', own?.id ?? '', '--comment', 'all good'], dave.token);
    expect(review).toMatchObject({ code: 1, stderr: expect.stringMatching(/FORBIDDEN: dave@example.com explored in this session, so someone else must review it/) });
  });

  it('starts a new exploration session for a new MCP session', async () => {
    await exploreOnce(alice.token, 'SELECT 1 AS one');
    const listed = await sessionsOf('alice@example.com', 2);
    expect(listed[0]?.calls).toBe(1);
  });

  it('proposes an explored query as a runbook on a new branch, which passes rungate lint', async () => {
    const explored = await explore(client, "SELECT id, status FROM orders WHERE status = 'stuck' AND created >= '2026-10-01' AND region = 'eu' ORDER BY id LIMIT 20");
    const runId = (explored.structuredContent as { runId: string }).runId;
    const proposed = await cli(['runbooks', 'propose', '--from-run', runId, '--path', 'team/find-stuck-orders.sql', '--config', stack.configFile, '--description', 'Find stuck orders of a region']);
    expect(proposed.stderr).toBe('');
    expect(proposed.code).toBe(0);
    const branch = `rungate/propose/find-stuck-orders-${runId.replace(/-/g, '').slice(0, 8)}`;
    expect(proposed.stdout).toContain(`proposed team/find-stuck-orders.runbook.sql on branch ${branch}`);
    expect(proposed.stdout).toContain('parameters: status (text), created (date), region (text), limit (number)');
    // The proposal is a branch of the runbook repository, not a change to its main branch.
    expect(execFileSync('git', ['-C', repoDir, 'branch', '--list', '--format=%(refname:short)'], { encoding: 'utf8' }).split('\n')).toContain(branch);
    expect(execFileSync('git', ['-C', repoDir, 'ls-tree', '-r', '--name-only', 'main'], { encoding: 'utf8' })).not.toContain('find-stuck-orders');
    const checkout = mkdtempSync(join(tmpdir(), 'rg-proposal-'));
    try {
      execFileSync('git', ['clone', '-q', '--branch', branch, repoDir, checkout]);
      const source = readFileSync(join(checkout, 'team/find-stuck-orders.runbook.sql'), 'utf8');
      expect(source).toMatch(/^-- @description Find stuck orders of a region\n-- @readonly\n/);
      expect(source).toContain(`status = '{{ .status | type "text" | required "status is required" }}'`);
      const lint = await runCli(['lint', checkout, '--repository', 'demo']);
      expect(lint).toMatchObject({ code: 0, stdout: expect.stringContaining('demo.team.find-stuck-orders(status: text, created: date, region: text, limit: number)') });
    } finally {
      rmSync(checkout, { recursive: true, force: true });
    }
    const again = await cli(['runbooks', 'propose', '--from-run', runId, '--path', 'team/find-stuck-orders.sql', '--config', stack.configFile]);
    expect(again).toMatchObject({ code: 1, stderr: expect.stringMatching(/already has a branch/) });
  });

  it('ranks the backlog: repeated explorations and denied tools, from the audit trail', async () => {
    for (const status of ['late', 'held', 'stuck']) expect((await explore(client, `SELECT count(*) FROM orders WHERE status = '${status}'`)).isError).toBeFalsy();
    const sales = await catalogClient(stack, bob.token, 1);
    try {
      const denied = (await sales.callTool({ name: 'demo.reports.orders_by_region', arguments: { region: 'us' } })) as CallResult;
      expect(resultText(denied)).toMatch(/^FORBIDDEN: /);
    } finally {
      await sales.close();
    }
    const backlog = await eventually(async () => {
      const out = await cli(['backlog', '--json']);
      const items = out.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { kind: string; key: string; example: string; count: number; runId?: string });
      if (!items.some((item) => item.key === 'demo.reports.orders_by_region')) throw new Error(`backlog: ${out.stdout}${out.stderr}`);
      return items;
    });
    expect(backlog.find((item) => item.kind === 'repeated-query' && /count\(\*\) FROM orders WHERE status/.test(item.example))).toMatchObject({ count: 3 });
    expect(backlog.find((item) => item.key === 'demo.reports.orders_by_region')).toMatchObject({ kind: 'denied-tool', count: 1 });
    // Bob asked for explore_sql, which no rule grants him: that is in the backlog too.
    expect(backlog.find((item) => item.key === 'explore_sql')).toMatchObject({ kind: 'denied-tool', count: 1, users: 1 });
    const text = await cli(['backlog']);
    expect(text.stdout).toMatch(/3× explored the same query — 1 agent\(s\), 1 user\(s\)/);
    expect(text.stdout).toMatch(/propose: rungate runbooks propose --from-run [0-9a-f-]+ --path/);
  });
});
