import { randomUUID } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { decodeAuditText } from '@rungate/audit-chain';
import { openDatabase, searchAuditEvents } from '@rungate/persistence';
import { createRunbookRepository, createTestDatabase, eventually, type TestDatabase } from '@rungate/testing';
import { Client as PgClient } from 'pg';
import type { DataSource } from 'typeorm';
import { TRANSPORTS, catalogClient, newToken, resultText as text, runIdOf, startStack, type CallResult, type Stack } from './support/stack';

const ADD_NOTE = `-- @description Append a note
INSERT INTO notes (note) VALUES ('{{ .note | required "note is required" }}');
`;
const DECODE = `-- @description Decode a base64 blob
-- @readonly
SELECT '{{ .blob | required "blob is required" | decodeb64 }}' AS decoded;
`;
const IDEMPOTENCY_META_KEY = 'io.rungate/idempotencyKey';

type AuditRow = { valid: boolean; run_id: string | null; actor_user: string | null; tool: string | null; type: string; event: Record<string, unknown> };


// Issue 15: every attempt on the record, faithfully, whatever the caller sends. Before the
// fix these calls left "invalid" audit rows (no actor, tool or run id), answered INTERNAL or
// TICKET_INVALID with no run on the record, and let a replay or a reused key misstate a run.
describe.each(TRANSPORTS)('hostile input over %s: every attempt is on the record', (transport) => {
  let target: TestDatabase;
  let auditDb: TestDatabase;
  let stack: Stack;
  let client: Client;
  let audit: DataSource;
  let sql: PgClient;
  const alice = newToken();

  beforeAll(async () => {
    target = await createTestDatabase('rge2e_hostile_target');
    auditDb = await createTestDatabase('rge2e_hostile_audit');
    const db = new PgClient({ connectionString: target.url });
    await db.connect();
    await db.query('CREATE TABLE notes (id serial PRIMARY KEY, note text NOT NULL)');
    await db.end();
    const repo = createRunbookRepository({ 'postgres/add_note.runbook.sql': ADD_NOTE, 'postgres/decode.runbook.sql': DECODE });
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
  - name: engineering-postgres
    groups: [engineering]
    connections: [app-db]
    runbooks: ["demo/postgres/**"]
`,
    });
    client = await catalogClient(stack, alice.token, 2);
    audit = await openDatabase(auditDb.url);
    sql = new PgClient({ connectionString: auditDb.url });
    await sql.connect();
  });

  afterAll(async () => {
    await sql?.end();
    await audit?.destroy();
    await client?.close();
    await stack?.stop();
    await target?.drop();
    await auditDb?.drop();
  });

  const call = (name: string, args: Record<string, unknown>, meta?: Record<string, unknown>) =>
    client.callTool({ name, arguments: { connection: 'app-db', ...args }, ...(meta ? { _meta: meta } : {}) }) as Promise<CallResult>;

  /** Waits for the refusal of a call made after `afterSeq` (its one `audit.attempt.denied`), then returns every row of that run. */
  async function decisionAfter(afterSeq: number, tool: string): Promise<AuditRow[]> {
    return eventually(async () => {
      const page = await searchAuditEvents(audit, { user: 'alice@example.com', runbook: tool, type: 'audit.attempt.denied', afterSeq, limit: 10 });
      const decided = page.events[0];
      if (!decided) throw new Error(`no decision on ${tool} after seq ${afterSeq} yet`);
      const runId = decided.event['runId'] as string;
      const { rows } = await sql.query<AuditRow>('SELECT valid, run_id, actor_user, tool, type, event FROM audit_events WHERE run_id = $1 ORDER BY seq', [runId]);
      return rows;
    });
  }

  const headSeq = async () => Number((await sql.query<{ seq: string | null }>('SELECT max(seq) AS seq FROM audit_events')).rows[0]?.seq ?? 0);

  async function runStatus(runId: string, settled: (status: string | null) => boolean): Promise<string | null> {
    return eventually(async () => {
      const { rows } = await sql.query<{ status: string | null }>('SELECT status FROM audit_runs WHERE run_id = $1', [runId]);
      const status = rows[0]?.status ?? null;
      if (!settled(status)) throw new Error(`run ${runId} is ${status}`);
      return status;
    });
  }

  it('refuses a lone surrogate in a text parameter, and records the attempt with its actor, tool and run id', async () => {
    const before = await headSeq();
    const result = await call('demo.postgres.add_note', { note: 'half a pair \ud800 here' });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^INVALID_PARAMS: note: must be well-formed Unicode text/);
    const rows = await decisionAfter(before, 'demo.postgres.add_note');
    expect(rows.every((r) => r.valid)).toBe(true);
    expect(rows[0]).toMatchObject({ actor_user: 'alice@example.com', tool: 'demo.postgres.add_note', type: 'audit.attempt.denied' });
    const byRun = await searchAuditEvents(audit, { runId: rows[0]?.run_id as string, limit: 10 });
    expect(byRun.events.map((e) => e.event['type'])).toEqual(['audit.attempt.denied']);
  });

  it('records hostile text that reaches an event losslessly: a parameter name with NUL and a lone surrogate', async () => {
    const before = await headSeq();
    const name = 'x\u0000\udc00y';
    const result = await call('demo.postgres.add_note', { note: 'fine', [name]: 'v' });
    expect(result.isError).toBe(true);
    const [decided] = await decisionAfter(before, 'demo.postgres.add_note');
    expect(decided).toMatchObject({ valid: true, actor_user: 'alice@example.com', tool: 'demo.postgres.add_note' });
    const reason = (decided?.event['decision'] as { reason: string }).reason;
    expect(decodeAuditText(reason)).toBe(`${name}: is not a parameter of this runbook`);
  });

  it('refuses a NUL in an idempotency key as invalid, recording the key exactly', async () => {
    const before = await headSeq();
    const key = 'retry\u00001';
    const result = await call('demo.postgres.add_note', { note: 'hello' }, { [IDEMPOTENCY_META_KEY]: key });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^INVALID_PARAMS: idempotency key: must be 1 to 255 visible ASCII characters/);
    const [decided] = await decisionAfter(before, 'demo.postgres.add_note');
    expect(decided).toMatchObject({ valid: true, actor_user: 'alice@example.com' });
    const details = decided?.event['details'] as { idempotencyKey: string };
    expect(decodeAuditText(details.idempotencyKey)).toBe(key);
  });

  it('refuses an idempotency key that is not a string instead of ignoring it', async () => {
    const before = await headSeq();
    const result = await call('demo.postgres.add_note', { note: 'hello' }, { [IDEMPOTENCY_META_KEY]: 42 });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^INVALID_PARAMS: idempotency key: must be a string/);
    const [decided] = await decisionAfter(before, 'demo.postgres.add_note');
    expect(decided).toMatchObject({ valid: true, actor_user: 'alice@example.com' });
    // Nothing ran under it (other suites share the AUDIT stream: look at this run only).
    expect(await sql.query('SELECT 1 FROM audit_events WHERE run_id = $1 AND type = $2', [decided?.run_id, 'audit.run.started']).then((r) => r.rowCount)).toBe(0);
  });

  it('keeps a finished run succeeded when a retry with its idempotency key is refused afterwards', async () => {
    const key = `replay-${randomUUID()}`;
    const first = await call('demo.postgres.add_note', { note: 'once' }, { [IDEMPOTENCY_META_KEY]: key });
    expect(first.isError).toBeFalsy();
    const runId = runIdOf(first) as string;
    expect(await runStatus(runId, (s) => s === 'succeeded')).toBe('succeeded');
    const again = await call('demo.postgres.add_note', { note: 'once' }, { [IDEMPOTENCY_META_KEY]: key });
    expect(again.isError).toBe(true);
    expect(text(again)).toMatch(/^TICKET_REPLAYED:/);
    await eventually(async () => {
      const { rows } = await sql.query('SELECT 1 FROM audit_events WHERE run_id = $1 AND outcome_status = $2', [runId, 'refused']);
      if (rows.length === 0) throw new Error('the refusal is not recorded yet');
    });
    expect(await runStatus(runId, () => true)).toBe('succeeded');
  });

  it('answers IDEMPOTENCY_CONFLICT for a key reused with other arguments, recorded apart from the original run', async () => {
    const key = `conflict-${randomUUID()}`;
    const first = await call('demo.postgres.add_note', { note: 'original' }, { [IDEMPOTENCY_META_KEY]: key });
    expect(first.isError).toBeFalsy();
    const runId = runIdOf(first) as string;
    // The first run's own events are in the table before the next call's are looked for.
    await runStatus(runId, (s) => s === 'succeeded');
    const before = await headSeq();
    const other = await call('demo.postgres.add_note', { note: 'different' }, { [IDEMPOTENCY_META_KEY]: key });
    expect(other.isError).toBe(true);
    expect(text(other)).toMatch(new RegExp(`^IDEMPOTENCY_CONFLICT: idempotency key ${key} was used for run ${runId} with other arguments`));
    const [conflict] = await decisionAfter(before, 'demo.postgres.add_note');
    expect(conflict?.run_id).not.toBe(runId);
    expect(conflict?.event).toMatchObject({ outcome: { status: 'denied', errorCode: 'idempotency-conflict' }, details: { conflictsWithRun: runId } });
    const { rows } = await sql.query<{ params: Record<string, string> | null }>('SELECT params FROM audit_events WHERE run_id = $1', [runId]);
    expect(rows.map((r) => r.params?.['note'])).toEqual(['original', 'original', 'original']);
  });

  it('refuses parameters over the documented limit at validation, on the record with run id and actor', async () => {
    const before = await headSeq();
    const result = await call('demo.postgres.add_note', { note: 'x'.repeat(60 * 1024) });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^PARAMS_TOO_LARGE: the parameters take \d+ bytes as JSON; the limit is 16384/);
    const rows = await decisionAfter(before, 'demo.postgres.add_note');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ valid: true, actor_user: 'alice@example.com', tool: 'demo.postgres.add_note' });
    expect(rows[0]?.event).toMatchObject({ outcome: { status: 'denied', errorCode: 'params-too-large' } });
  });

  it('answers 10,000-deep arguments with a validation error and an audit record, never INTERNAL', async () => {
    const before = await headSeq();
    // Sent as text: the SDK client itself cannot serialize a value this deep (JSON.stringify overflows).
    const deep = `${'['.repeat(10_000)}"deep"${']'.repeat(10_000)}`;
    const body = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"demo.postgres.add_note","arguments":{"connection":"app-db","note":${deep}}}}`;
    const response = await fetch(`${stack.gatewayUrl}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', Authorization: `Bearer ${alice.token}` },
      body,
    });
    expect(response.status).toBe(200);
    const reply = (await response.json()) as { result?: CallResult; error?: { code: number } };
    if (reply.error) expect(reply.error.code).toBe(-32602);
    else {
      expect(reply.result?.isError).toBe(true);
      expect(text(reply.result as CallResult)).toBe('INVALID_PARAMS: note: must be a string, not a list');
    }
    const [decided] = await decisionAfter(before, 'demo.postgres.add_note');
    expect(decided).toMatchObject({ valid: true, actor_user: 'alice@example.com', tool: 'demo.postgres.add_note' });
    expect(decided?.event).toMatchObject({ outcome: { status: 'denied', errorCode: 'invalid-params' } });
  });

  it('answers invalid base64 for a decodeb64 parameter with a validation error and an audit record', async () => {
    const before = await headSeq();
    const result = await call('demo.postgres.decode', { blob: 'not base64!' });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^INVALID_PARAMS: blob: is not valid base64/);
    const [decided] = await decisionAfter(before, 'demo.postgres.decode');
    expect(decided).toMatchObject({ valid: true, actor_user: 'alice@example.com', tool: 'demo.postgres.decode' });
    expect(decided?.event).toMatchObject({ outcome: { status: 'denied' } });
    const ok = await call('demo.postgres.decode', { blob: Buffer.from("it's fine").toString('base64') });
    expect(text(ok)).toContain("it's fine");
  });
});
