import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRunbookRepository, createTestDatabase, createTestMysqlDatabase, eventually, type TestDatabase, type TestMysqlDatabase } from '@rungate/testing';
import { catalogClient, newToken, resultText, runCli, startStack, type Stack } from './support/stack';

const SET_NOTE = `-- @description Set an order's note
-- @connection-types mysql
UPDATE orders SET note = '{{ .note | required "note" }}' WHERE id = {{ .id | type "number" | required "id" }};
SELECT id, note FROM orders WHERE id = {{ .id | type "number" }};
`;
const ADD_COLUMN = `-- @description Add a column
-- @connection-types mysql
ALTER TABLE orders ADD COLUMN {{ .name | type "identifier" | required "name" }} int;
`;

type CallResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };

/** Statements an exploration on MySQL must refuse before anything runs, and what the agent is told. */
const REFUSED: [string, RegExp][] = [
  ["UPDATE orders SET note = 'x' WHERE id = 1", /the statement starts with UPDATE; explore_sql runs exactly one read-only statement on MySQL/],
  ['SELECT 1; DELETE FROM orders', /2 statements were sent/],
  ['SELECT 1 /*! ; DELETE FROM orders */', /executable comment/],
  ["SELECT * FROM orders INTO OUTFILE '/tmp/rungate-e2e-mysql'", /contains INTO/],
  ["SELECT LOAD_FILE('/etc/passwd')", /function LOAD_FILE reads a file on the server/],
  ['SELECT `sleep`(30)', /function SLEEP/],
  ['SELECT * FROM orders FOR UPDATE', /FOR UPDATE takes row locks/],
  ['SELECT @n := 1', /":=" assigns a user variable/],
  ["SELECT 'it\\'s' AS a; UPDATE orders SET note = 'x'", /2 statements were sent/],
];

describe('a MySQL runbook called through MCP: gateway → policy → executor-mysql → MariaDB', () => {
  let target: TestMysqlDatabase;
  let auditDb: TestDatabase;
  let stack: Stack;
  let client: Client;
  const alice = newToken();
  const carol = newToken();
  const explorer = `${'rge2e_ro'}_${randomBytes(4).toString('hex')}`;
  const explorerPassword = `pw-${randomBytes(8).toString('hex')}`;

  beforeAll(async () => {
    target = await createTestMysqlDatabase('rge2e_mysql');
    auditDb = await createTestDatabase('rge2e_mysql_audit');
    await target.query(`CREATE TABLE orders (id int PRIMARY KEY, note text NOT NULL) ENGINE=InnoDB; INSERT INTO orders VALUES (1, 'new'), (2, 'new');
      CREATE TABLE customers (id int PRIMARY KEY, email varchar(100) NOT NULL) ENGINE=InnoDB; INSERT INTO customers VALUES (1, 'ada@example.com'), (2, 'grace@example.com');
      CREATE TABLE secrets (id int PRIMARY KEY, token text NOT NULL) ENGINE=InnoDB; INSERT INTO secrets VALUES (1, 'do-not-read');
      CREATE USER '${explorer}'@'%' IDENTIFIED BY '${explorerPassword}';
      GRANT SELECT, SHOW VIEW ON \`${target.name}\`.orders TO '${explorer}'@'%';
      GRANT SELECT, SHOW VIEW ON \`${target.name}\`.customers TO '${explorer}'@'%';`);
    const explorerUrl = new URL(target.url);
    explorerUrl.username = explorer;
    explorerUrl.password = explorerPassword;
    const repo = createRunbookRepository({ 'mysql/set_note.runbook.sql': SET_NOTE, 'mysql/add_column.runbook.sql': ADD_COLUMN });
    stack = await startStack({
      services: ['git-sync', 'policy', 'executor-mysql', 'audit', 'gateway'],
      readyTimeoutMs: 120_000,
      env: { ORDERS_DB_URL: target.url, ORDERS_EXPLORER_URL: explorerUrl.toString(), DATABASE_URL: auditDb.url },
      config: () => `
repositories:
  - name: demo
    url: ${repo.dir}
    pollInterval: 1s
connections:
  - name: orders-db
    type: mysql
    url: env:ORDERS_DB_URL
  - name: orders-explore
    type: mysql
    url: env:ORDERS_EXPLORER_URL
    masking: pii
    explore: { timeout: 5s }
users:
  - name: alice@example.com
    groups: [engineering]
  - name: carol@example.com
    groups: [auditors]
tokens:
  - sha256: "${alice.sha256}"
    user: alice@example.com
    agent: claude-code
  - { sha256: "${carol.sha256}", user: carol@example.com, agent: review-cli, scopes: [audit:read] }
rules:
  - name: engineering-mysql
    groups: [engineering]
    connections: [orders-db]
    runbooks: ["demo/mysql/**"]
  - name: engineering-explore
    groups: [engineering]
    explore: { connections: [orders-explore], maxRows: 50, timeout: 2s }
masking:
  - { name: pii, entities: { email: redact } }
`,
    });
    client = await catalogClient(stack, alice.token, 4);
  });

  afterAll(async () => {
    await client?.close();
    await stack?.stop();
    await target?.query(`DROP USER IF EXISTS '${explorer}'@'%'`);
    await target?.drop();
    await auditDb?.drop();
  });

  it('lists the MySQL runbooks as tools on the MySQL connection', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['demo.mysql.add_column', 'demo.mysql.set_note', 'explore_schema', 'explore_sql']);
    expect(tools.find((t) => t.name === 'explore_sql')?.inputSchema.properties?.['connection']).toMatchObject({ enum: ['orders-explore'] });
    expect(tools.find((t) => t.name === 'demo.mysql.set_note')?.inputSchema.properties?.['connection']).toMatchObject({ enum: ['orders-db'] });
  });

  it('writes a hostile value byte for byte, and the statement keeps its shape', async () => {
    const note = `it's \\'; DROP TABLE orders; -- \\\\ "x" \`y\` /*! 1 */ # ¿'`;
    const result = (await client.callTool({ name: 'demo.mysql.set_note', arguments: { id: 1, note } })) as CallResult;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ kind: 'sql', rows: [{ id: 1, note }], statements: [{ command: 'UPDATE', rowCount: 1 }, { command: 'SELECT', rowCount: 1 }] });
    expect(await target.query('SELECT id, note FROM orders ORDER BY id')).toEqual([
      { id: 1, note },
      { id: 2, note: 'new' },
    ]);
  });

  it('dry-runs a write and rolls it back', async () => {
    const result = (await client.callTool({ name: 'demo.mysql.set_note', arguments: { id: 2, note: 'dry', dryRun: true } })) as CallResult;
    expect(result.structuredContent).toMatchObject({ dryRun: true, rows: [{ id: 2, note: 'dry' }] });
    expect(await target.query('SELECT note FROM orders WHERE id = 2')).toEqual([{ note: 'new' }]);
  });

  it('refuses to dry-run DDL, saying MySQL commits it implicitly', async () => {
    const result = (await client.callTool({ name: 'demo.mysql.add_column', arguments: { name: 'extra', dryRun: true } })) as CallResult;
    expect(result.isError).toBe(true);
    expect(result.content.map((c) => c.text).join('\n')).toMatch(/ALTER TABLE\) commits implicitly in MySQL.*Nothing was executed/);
    expect(await target.query(`SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = DATABASE() AND column_name = 'extra'`)).toEqual([{ n: '0' }]);
  });

  describe('explored read-only (explore_sql on MySQL, ADR 19)', () => {
    const explore = async (sql: string) => (await client.callTool({ name: 'explore_sql', arguments: { sql } })) as CallResult;
    const state = async () => JSON.stringify(await target.query('SELECT (SELECT GROUP_CONCAT(id, note ORDER BY id) FROM orders) AS o, (SELECT GROUP_CONCAT(id, email ORDER BY id) FROM customers) AS c, (SELECT COUNT(*) FROM secrets) AS s'));

    it('runs a SELECT read-only as the read-only account, masked', async () => {
      const result = await explore('SELECT c.id, c.email, o.note FROM customers c JOIN orders o ON o.id = c.id ORDER BY c.id');
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toMatchObject({ kind: 'sql', rowCount: 2, truncated: false, rows: [{ id: 1, email: '[EMAIL]' }, { id: 2, email: '[EMAIL]' }] });
      expect(resultText(result)).not.toContain('@example.com');
    });

    it('describes what the account may read, and nothing else', async () => {
      const tables = (await client.callTool({ name: 'explore_schema', arguments: {} })) as CallResult;
      expect((tables.structuredContent as { rows: Record<string, unknown>[] }).rows.map((row) => row['name'])).toEqual(['customers', 'orders']);
      const columns = (await client.callTool({ name: 'explore_schema', arguments: { table: 'orders' } })) as CallResult;
      expect((columns.structuredContent as { rows: Record<string, unknown>[] }).rows.map((row) => `${row['part']}:${row['name']}`)).toEqual(['column:id', 'column:note', 'index:PRIMARY']);
      const denied = await explore('SELECT token FROM secrets');
      expect(denied.isError).toBe(true);
      expect(resultText(denied)).toMatch(/SELECT command denied to user/);
    });

    it.each(REFUSED)('refuses %s before anything runs, and nothing changes', async (sql, reason) => {
      const before = await state();
      const result = await explore(sql);
      expect(result.isError).toBe(true);
      expect(resultText(result)).toMatch(/^EXPLORATION_REFUSED: /);
      expect(resultText(result)).toMatch(reason);
      expect(resultText(result)).toMatch(/nothing was run$/);
      expect(await state()).toBe(before);
      expect(existsSync('/tmp/rungate-e2e-mysql')).toBe(false);
    });

    it('records every call, the refused ones too, in one exploration session a reviewer reads', async () => {
      const cli = (args: string[]) => runCli([...args, '--url', stack.auditApiUrl], { env: { ...process.env, RUNGATE_TOKEN: carol.token } });
      const session = await eventually(async () => {
        const listed = await cli(['sessions', 'list', '--user', 'alice@example.com', '--json']);
        const [latest] = listed.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { id: string; calls: number; refused: number });
        if (!latest || latest.refused < REFUSED.length) throw new Error(`sessions: ${listed.stdout}${listed.stderr}`);
        return latest;
      });
      // explore_sql ×2 (one denied by the account) and explore_schema ×2 ran; REFUSED never did.
      expect(session).toMatchObject({ calls: 4 + REFUSED.length, refused: REFUSED.length });
      const shown = await cli(['sessions', 'show', session.id]);
      expect(shown.stdout).toContain('sql: SELECT c.id, c.email, o.note FROM customers c JOIN orders o ON o.id = c.id ORDER BY c.id');
      expect(shown.stdout).toContain('refused: function LOAD_FILE reads a file on the server');
      expect(shown.stdout).toMatch(/masked: email 2/);
    });
  });
});
