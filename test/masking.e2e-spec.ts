import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createRunbookRepository, createTestDatabase, eventually, startSshd, type Sshd, type TestDatabase } from '@rungate/testing';
import { Client as PgClient } from 'pg';
import { SERVICES, TRANSPORTS, catalogClient, newToken, resultText, runIdOf, startStack, type CallResult, type Stack } from './support/stack';

const CUSTOMERS = `-- @description Customers and how they pay
-- @readonly
SELECT id, name, email, card, reference, iban, phone FROM customers ORDER BY id;
`;
const CONTACTS = `# @description Print a contact card on the host
# @readonly
printf 'mail %s card %s\\n' 'ada@example.com' '4111 1111 1111 1111'
printf 'ref 4111111111111112 iban DE89 3704 0044 0532 0130 00\\n' >&2
`;

/** What the target holds and the runbooks print; none of the masked ones may reach the client or the audit log. */
const RAW = {
  emails: ['ada@example.com', 'grace@example.org'],
  card: '4111 1111 1111 1111',
  iban: 'DE89370400440532013000',
  ibanPrinted: 'DE89 3704 0044 0532 0130 00',
  names: ['Ada Lovelace', 'Grace Hopper'],
  phone: '+44 20 7946 0958',
};
/** A 16-digit number that fails Luhn is no card: it must stay visible. */
const NOT_A_CARD = '4111111111111112';

describe.each(TRANSPORTS)('masking over %s: what an executor returns leaves it masked', (transport) => {
  let target: TestDatabase;
  let auditDb: TestDatabase;
  let sshd: Sshd;
  let stack: Stack;
  let client: Client;
  const alice = newToken();
  /** The runs this file made: the AUDIT stream is shared with the files running beside it. */
  const runIds: string[] = [];

  /** An executor that is still subscribing answers no-responders: nothing ran, so calling again is safe. */
  async function call(name: string, args: Record<string, unknown>): Promise<CallResult> {
    const result = await eventually(async () => {
      const answered = (await client.callTool({ name, arguments: args })) as CallResult;
      if (/did not report run/.test(resultText(answered))) throw new Error(resultText(answered));
      return answered;
    }, 20_000);
    const runId = runIdOf(result);
    if (runId) runIds.push(runId);
    return result;
  }

  beforeAll(async () => {
    target = await createTestDatabase('rge2e_mask_target');
    auditDb = await createTestDatabase('rge2e_mask_audit');
    sshd = await startSshd();
    const db = new PgClient({ connectionString: target.url });
    await db.connect();
    await db.query(`CREATE TABLE customers (id int PRIMARY KEY, name text, email text, card text, reference text, iban text, phone text);
                    INSERT INTO customers VALUES
                      (1, 'Ada Lovelace', 'ada@example.com', '4111 1111 1111 1111', '${NOT_A_CARD}', '${RAW.iban}', '${RAW.phone}'),
                      (2, 'Grace Hopper', 'grace@example.org', NULL, 'n/a', NULL, '${RAW.phone}');`);
    await db.end();
    const repo = createRunbookRepository({ 'postgres/customers.runbook.sql': CUSTOMERS, 'scripts/contacts.runbook.sh': CONTACTS });
    stack = await startStack({
      transport,
      services: [...SERVICES, 'executor-shell', 'executor-ssh'],
      env: { APP_DB_URL: target.url, DATABASE_URL: auditDb.url, E2E_MASKING_KEY: 'e2e-hmac-key-executors-only' },
      config: () => `
repositories:
  - name: demo
    url: ${repo.dir}
    pollInterval: 1s
connections:
  - name: app-db
    type: postgres
    url: env:APP_DB_URL
    masking: pii
  - name: local-shell
    type: shell
    masking: pii
  - name: bastion
    type: ssh
    host: 127.0.0.1
    port: ${sshd.port}
    user: ${sshd.user}
    hostKey: "${sshd.hostKey}"
    privateKey: file:${sshd.clientKeyFile}
    masking: pii
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
    connections: [app-db, local-shell, bastion]
    runbooks: ["demo/**"]
masking:
  - name: pii
    entities: { email: redact, credit_card: mask, iban: partial, phone: hash }
    columns: [customers.name]
    hashKey: env:E2E_MASKING_KEY
`,
    });
    client = await catalogClient(stack, alice.token, 2);
  });

  afterAll(async () => {
    await client?.close();
    await stack?.stop();
    await sshd?.stop();
    await target?.drop();
    await auditDb?.drop();
  });

  it('masks a SELECT\'s e-mails, card, IBAN, phones and ruled column in structuredContent and in the text', async () => {
    const result = await call('demo.postgres.customers', {});
    expect(result.isError).toBeFalsy();
    const rows = (result.structuredContent as { rows: Record<string, unknown>[] }).rows;
    expect(rows).toEqual([
      { id: 1, name: '[REDACTED]', email: '[EMAIL]', card: '****1111', reference: NOT_A_CARD, iban: 'DE****************3000', phone: expect.stringMatching(/^\[PHONE#[g-v]{16}\]$/) },
      { id: 2, name: '[REDACTED]', email: '[EMAIL]', card: null, reference: 'n/a', iban: null, phone: expect.stringMatching(/^\[PHONE#[g-v]{16}\]$/) },
    ]);
    // Equal values hash to equal tokens, so results still join.
    expect(rows[0]?.['phone']).toBe(rows[1]?.['phone']);
    expect(result.structuredContent).toMatchObject({ kind: 'sql', rowCount: 2, truncated: false });
    const rendered = resultText(result);
    expect(rendered).toContain('[EMAIL]');
    expect(rendered).toContain(NOT_A_CARD);
    for (const raw of [...RAW.emails, RAW.card, RAW.iban, ...RAW.names, RAW.phone]) {
      expect(rendered).not.toContain(raw);
      expect(JSON.stringify(result.structuredContent)).not.toContain(raw);
    }
  });

  it.each(['local-shell', 'bastion'])('masks stdout and stderr of a script on %s', async (connection) => {
    const result = await call('demo.scripts.contacts', { connection });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      kind: 'process',
      exitCode: 0,
      stdout: 'mail [EMAIL] card ****1111\n',
      stderr: `ref ${NOT_A_CARD} iban DE** **** **** **** **30 00\n`,
    });
    const rendered = resultText(result);
    expect(rendered).toContain('mail [EMAIL] card ****1111');
    for (const raw of [RAW.emails[0] as string, RAW.card, RAW.ibanPrinted]) expect(rendered).not.toContain(raw);
  });

  it('records what was masked, by kind and count, and never a raw value, in the audit log', async () => {
    const db = new PgClient({ connectionString: auditDb.url });
    await db.connect();
    try {
      const completed = await eventually(async () => {
        const { rows } = await db.query<{ connection_name: string; event: { outcome: { masking?: unknown } } }>(
          `SELECT connection_name, event FROM audit_events WHERE type = 'audit.run.completed' AND run_id = ANY($1) ORDER BY seq`,
          [runIds],
        );
        if (new Set(rows.map((r) => r.connection_name)).size < 3) throw new Error(`completed runs so far: ${rows.map((r) => r.connection_name).join(', ')}`);
        return rows;
      });
      const masking = (name: string) => completed.find((r) => r.connection_name === name)?.event.outcome.masking;
      const profile = { profile: 'pii', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) };
      expect(masking('app-db')).toEqual({ ...profile, counts: { column: 2, credit_card: 1, email: 2, iban: 1, phone: 2 } });
      expect(masking('local-shell')).toEqual({ ...profile, counts: { credit_card: 1, email: 1, iban: 1 } });
      expect(masking('bastion')).toEqual({ ...profile, counts: { credit_card: 1, email: 1, iban: 1 } });
      const { rows: started } = await db.query(`SELECT event FROM audit_events WHERE type = 'audit.run.started' AND run_id = ANY($1)`, [runIds]);
      expect(started).toHaveLength(runIds.length);
      expect(started.every((r) => r.event.details.masking === 'pii')).toBe(true);
      const { rows: everything } = await db.query<{ event: string }>('SELECT event::text AS event FROM audit_events');
      const stored = everything.map((r) => r.event).join('\n');
      for (const raw of [...RAW.emails, RAW.card, RAW.iban, RAW.ibanPrinted, ...RAW.names, RAW.phone, 'e2e-hmac-key-executors-only']) expect(stored).not.toContain(raw);
    } finally {
      await db.end();
    }
  });
});
