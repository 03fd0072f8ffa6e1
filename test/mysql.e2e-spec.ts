import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createRunbookRepository, createTestDatabase, createTestMysqlDatabase, type TestDatabase, type TestMysqlDatabase } from '@rungate/testing';
import { catalogClient, newToken, startStack, type Stack } from './support/stack';

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

describe('a MySQL runbook called through MCP: gateway → policy → executor-mysql → MariaDB', () => {
  let target: TestMysqlDatabase;
  let auditDb: TestDatabase;
  let stack: Stack;
  let client: Client;
  const alice = newToken();

  beforeAll(async () => {
    target = await createTestMysqlDatabase('rge2e_mysql');
    auditDb = await createTestDatabase('rge2e_mysql_audit');
    await target.query(`CREATE TABLE orders (id int PRIMARY KEY, note text NOT NULL) ENGINE=InnoDB; INSERT INTO orders VALUES (1, 'new'), (2, 'new')`);
    const repo = createRunbookRepository({ 'mysql/set_note.runbook.sql': SET_NOTE, 'mysql/add_column.runbook.sql': ADD_COLUMN });
    stack = await startStack({
      services: ['git-sync', 'policy', 'executor-mysql', 'audit', 'gateway'],
      env: { ORDERS_DB_URL: target.url, DATABASE_URL: auditDb.url },
      config: () => `
repositories:
  - name: demo
    url: ${repo.dir}
    pollInterval: 1s
connections:
  - name: orders-db
    type: mysql
    url: env:ORDERS_DB_URL
users:
  - name: alice@example.com
    groups: [engineering]
tokens:
  - sha256: "${alice.sha256}"
    user: alice@example.com
    agent: claude-code
rules:
  - name: engineering-mysql
    groups: [engineering]
    connections: [orders-db]
    runbooks: ["demo/mysql/**"]
`,
    });
    client = await catalogClient(stack, alice.token, 2);
  });

  afterAll(async () => {
    await client?.close();
    await stack?.stop();
    await target?.drop();
    await auditDb?.drop();
  });

  it('lists the MySQL runbooks as tools on the MySQL connection', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['demo.mysql.add_column', 'demo.mysql.set_note']);
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
});
