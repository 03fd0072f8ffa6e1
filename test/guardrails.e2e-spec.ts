import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { RUNGATE_BIN, createRunbookRepository, createTestDatabase, eventually, startProcess, type TestDatabase } from '@rungate/testing';
import { Client as PgClient } from 'pg';
import { TRANSPORTS, catalogClient, newToken, resultText as text, startStack, type CallResult, type Stack } from './support/stack';

/** A value only the target holds: it must never reach the audit trail through a guardrail's report. */
const MARKER = 'confidential-7f3a';

const RUNBOOKS: Record<string, string> = {
  // Each of these deletes every session, however much it looks otherwise to a regular expression.
  'postgres/purge_commented.runbook.sql': 'DELETE /* where */ FROM sessions -- WHERE user_id = 1\nRETURNING {{ .user_id | type "number" }} AS asked_for;\n',
  'postgres/purge_quoted.runbook.sql': "DELETE FROM sessions RETURNING 'WHERE user_id = 1' AS note, {{ .user_id | type \"number\" }} AS asked_for;\n",
  'postgres/purge_dollar.runbook.sql': 'DELETE FROM "sessions" AS "WHERE" RETURNING $q$ WHERE user_id = 1 $q$ AS note, {{ .user_id | type "number" }} AS asked_for;\n',
  'postgres/purge_constant.runbook.sql': 'DELETE FROM sessions WHERE 1 = 1 OR user_id = {{ .user_id | type "number" }};\n',
  'postgres/forget_user.runbook.sql': 'DELETE FROM sessions WHERE user_id = {{ .user_id | type "number" }};\n',
  'postgres/set_note.runbook.sql': "UPDATE notes SET body = '{{ .body }}' WHERE id = 1;\n",
  'reports/all_orders.runbook.sql': '-- @readonly\nSELECT id, note FROM orders ORDER BY id;\n',
  'reports/recent_orders.runbook.sql': '-- @readonly\nSELECT id, note FROM orders ORDER BY id DESC LIMIT {{ .n | type "number" }};\n',
  'reports/tidy_orders.runbook.sql': 'WITH gone AS (DELETE FROM orders WHERE id = {{ .id | type "number" }} RETURNING id) SELECT count(*) FROM gone;\n',
};

describe.each(TRANSPORTS)('guardrails over %s: MCP client → policy (input) and executor (output) → audit', (transport) => {
  let target: TestDatabase;
  let auditDb: TestDatabase;
  let stack: Stack;
  let client: Client;
  let repoDir: string;
  const alice = newToken();

  async function query<T extends Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
    const db = new PgClient({ connectionString: url });
    await db.connect();
    try {
      return (await db.query(sql, params)).rows as T[];
    } finally {
      await db.end();
    }
  }

  const sessions = async () => Number((await query<{ n: string }>(target.url, 'SELECT count(*) AS n FROM sessions'))[0]?.n);
  const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallResult;

  beforeAll(async () => {
    target = await createTestDatabase('rge2e_guard_target');
    auditDb = await createTestDatabase('rge2e_guard_audit');
    await query(
      target.url,
      `CREATE TABLE sessions (user_id int NOT NULL);
       INSERT INTO sessions SELECT g % 10 FROM generate_series(1, 40) g;
       CREATE TABLE orders (id int PRIMARY KEY, note text NOT NULL);
       INSERT INTO orders SELECT g, '${MARKER}' FROM generate_series(1, 250) g;
       CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);
       INSERT INTO notes VALUES (1, '');`,
    );
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
  - name: app-db
    type: postgres
    url: env:APP_DB_URL
users:
  - name: alice@example.com
    groups: [engineering]
tokens:
  - sha256: "${alice.sha256}"
    user: alice@example.com
    agent: claude-code
rules:
  - name: engineering
    groups: [engineering]
    connections: [app-db]
    runbooks: ["demo/**"]
    guardrails: [row-cap]
guardrails:
  - name: no-unbounded-writes
    on: input
    connections: [app-db]
    match: { sql: { requireWhere: true } }
    message: Writes must name the rows they change
  - name: reports-read-only
    on: input
    runbooks: ["demo/reports/**"]
    match: { sql: { statements: [select] } }
    message: Report runbooks only read
  - name: mind-the-notes
    on: input
    runbooks: ["demo/postgres/set_note*"]
    match: { words: [password] }
    action: warn
  - name: row-cap
    on: output
    match: { maxRows: 100 }
    message: Ask for at most 100 rows
`,
    });
    client = await catalogClient(stack, alice.token, Object.keys(RUNBOOKS).length);
  });

  afterAll(async () => {
    await client?.close();
    await stack?.stop();
    await target?.drop();
    await auditDb?.drop();
  });

  it.each(['purge_commented', 'purge_quoted', 'purge_dollar', 'purge_constant'])(
    'refuses %s: a DELETE of every row, whatever its comments, string literals and dollar quotes say',
    async (runbook) => {
      const result = await call(`demo.postgres.${runbook}`, { user_id: 1 });
      expect(result.isError).toBe(true);
      expect(text(result)).toMatch(/^GUARDRAIL_BLOCKED: guardrail no-unbounded-writes: Writes must name the rows they change \(statement 1 \(line 1\): DELETE (without a WHERE clause|whose WHERE does not depend on the rows \(like WHERE true\)) would change every row\); nothing was run$/);
      expect(await sessions()).toBe(40);
    },
  );

  it('runs the DELETE that names its rows', async () => {
    const result = await call('demo.postgres.forget_user', { user_id: 3 });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ statements: [{ command: 'DELETE', rowCount: 4 }] });
    expect(await sessions()).toBe(36);
  });

  it('keeps a SELECT-only runbook folder to SELECT, also against a DELETE inside WITH', async () => {
    const refused = await call('demo.reports.tidy_orders', { id: 7 });
    expect(text(refused)).toBe(
      'GUARDRAIL_BLOCKED: guardrail reports-read-only: Report runbooks only read (statement 1 (line 1) contains DELETE, not one of: select); nothing was run',
    );
    expect((await query(target.url, 'SELECT id FROM orders WHERE id = 7')).length).toBe(1);
  });

  it('withholds a result with more rows than the output guardrail allows, and passes a smaller one', async () => {
    const refused = await call('demo.reports.all_orders', {});
    expect(refused.isError).toBe(true);
    expect(text(refused)).toMatch(/^GUARDRAIL_BLOCKED: run \S+ ran on app-db, but its output was withheld: guardrail row-cap: Ask for at most 100 rows \(the result has 250 rows, more than 100\)$/);
    expect(text(refused)).not.toContain(MARKER);
    // The error keeps its code to the edge (ADR 21), and the withheld rows stay withheld.
    expect(refused.structuredContent).toMatchObject({ code: 'GUARDRAIL_BLOCKED' });
    expect(JSON.stringify(refused.structuredContent)).not.toContain(MARKER);
    const recent = await call('demo.reports.recent_orders', { n: 5 });
    expect(recent.isError).toBeFalsy();
    expect(recent.structuredContent).toMatchObject({ rowCount: 5, rows: [{ id: 250, note: MARKER }, { id: 249 }, { id: 248 }, { id: 247 }, { id: 246 }] });
  });

  it('lets a call a warn guardrail matched through', async () => {
    const result = await call('demo.postgres.set_note', { body: 'the password is on the fridge' });
    expect(result.isError).toBeFalsy();
    expect((await query<{ body: string }>(target.url, 'SELECT body FROM notes'))[0]?.body).toBe('the password is on the fridge');
  });

  it('shows the guardrails in `rungate lint --config` and `rungate policy explain`, with the runbook that can never pass', async () => {
    const cli = async (...args: string[]) => {
      const proc = startProcess('cli', process.execPath, [RUNGATE_BIN, ...args], stack.env);
      return { code: await proc.exited, output: proc.output() };
    };
    const lint = await cli('lint', repoDir, '--repository', 'demo', '--config', stack.configFile);
    expect(lint.code).toBe(0);
    expect(lint.output).toContain(
      'postgres/purge_commented.runbook.sql:1:1: warning: can never pass guardrail no-unbounded-writes (on app-db): Writes must name the rows they change',
    );
    expect(lint.output).not.toMatch(/forget_user.runbook.sql:1:1: warning/);
    expect(lint.output).toContain('guardrails: no-unbounded-writes (input, deny; on app-db), reports-read-only (input, deny; always), row-cap (output, deny; when rule engineering allows it)');
    const explained = await cli(
      'policy', 'explain', '--config', stack.configFile, '--user', 'alice@example.com', '--runbook', 'demo/postgres/purge_dollar.runbook.sql',
      '--connection', 'app-db', '--param', 'user_id=1', '--file', join(repoDir, 'postgres', 'purge_dollar.runbook.sql'),
    );
    expect(explained.code).toBe(1);
    expect(explained.output).toContain('      denies this call: Writes must name the rows they change');
    expect(explained.output).toContain('  with these parameters the call is denied by guardrail no-unbounded-writes');
  });

  it('names the guardrails in the audit trail, and never what they matched', async () => {
    type Row = { type: string; tool: string; decision_effect: string | null; decision_reason: string | null; error_code: string | null; event: Record<string, unknown> };
    const rows = await eventually(async () => {
      const found = await query<Row>(auditDb.url, `SELECT type, tool, decision_effect, decision_reason, error_code, event FROM audit_events WHERE event ? 'guardrails' ORDER BY seq`);
      if (found.filter((r) => r.type === 'audit.run.failed').length < 1 || found.length < 7) throw new Error(`${found.length} guardrail events so far`);
      return found;
    });
    const named = rows.map((r) => [r.type, r.tool, (r.event['guardrails'] as { name: string; action: string }[]).map((g) => `${g.name}:${g.action}`).join(',')]);
    expect(named).toEqual(
      expect.arrayContaining([
        ['audit.attempt.denied', 'demo.postgres.purge_commented', 'no-unbounded-writes:deny'],
        ['audit.attempt.denied', 'demo.postgres.purge_dollar', 'no-unbounded-writes:deny'],
        ['audit.attempt.denied', 'demo.reports.tidy_orders', 'reports-read-only:deny'],
        ['audit.run.decided', 'demo.postgres.set_note', 'mind-the-notes:warn'],
        ['audit.run.failed', 'demo.reports.all_orders', 'row-cap:deny'],
      ]),
    );
    const denied = rows.find((r) => r.tool === 'demo.postgres.purge_quoted');
    expect(denied).toMatchObject({ decision_effect: 'deny', error_code: 'guardrail' });
    expect(denied?.decision_reason).toMatch(/^guardrail no-unbounded-writes: /);
    expect(rows.find((r) => r.tool === 'demo.postgres.set_note')?.decision_effect).toBe('allow');
    expect(rows.find((r) => r.type === 'audit.run.failed')).toMatchObject({ error_code: 'GUARDRAIL_BLOCKED', event: { outcome: { rows: 250 } } });
    // Neither the target's data nor the body's text: only names, positions and counts.
    const everything = JSON.stringify(await query(auditDb.url, 'SELECT event FROM audit_events'));
    expect(everything).not.toContain(MARKER);
    expect(everything).not.toContain('RETURNING');
  });
});
