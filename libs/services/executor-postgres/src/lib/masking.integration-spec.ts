import { randomUUID } from 'node:crypto';
import { ExecutorHarness } from '../testing/executor-harness';

describe('executor-postgres masks what leaves it (profile pii of its rungate.yaml)', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await ExecutorHarness.create('masking');
    await h.query(`
      CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE NOT NULL, card text, iban text, phone text, ssn text UNIQUE, note jsonb);
      INSERT INTO users VALUES
        (1, 'ada@example.com', '4111 1111 1111 1111', 'DE89370400440532013000', '+44 20 7946 0958', '536-90-4399', '{"backup": "ada@backup.example"}'),
        (2, 'grace@example.com', '4111111111111112', NULL, '555 0100', '536904400', NULL);
      CREATE TABLE vendors (id int PRIMARY KEY, phone text);
      INSERT INTO vendors VALUES (1, '555 0199');`);
    await h.startReplica();
  });

  afterAll(async () => {
    await h?.close();
  });

  const tag = () => `/* ${randomUUID()} */`;
  const masked = (body: string) => h.sign(`${body} ${tag()}`, { masking: h.maskingClaim('pii') });

  it('masks entities and ruled columns cell by cell, keeping the result\'s shape', async () => {
    const request = masked('SELECT id, email, card, iban, phone AS tel, ssn, note FROM users ORDER BY id');
    const result = await h.exec(request);
    expect(result.output).toEqual({
      kind: 'sql',
      columns: [
        { name: 'id', type: 'int4' },
        { name: 'email', type: 'text' },
        { name: 'card', type: 'text' },
        { name: 'iban', type: 'text' },
        { name: 'tel', type: 'text' },
        { name: 'ssn', type: 'text' },
        { name: 'note', type: 'jsonb' },
      ],
      rows: [
        { id: 1, email: '[EMAIL]', card: '****1111', iban: 'DE****************3000', tel: '[REDACTED]', ssn: '[REDACTED]', note: { backup: '[EMAIL]' } },
        // A number failing Luhn is no card: it stays visible.
        { id: 2, email: '[EMAIL]', card: '4111111111111112', iban: null, tel: '[REDACTED]', ssn: '[REDACTED]', note: null },
      ],
      rowCount: 2,
      statements: [{ command: 'SELECT', rowCount: 2 }],
      truncated: false,
    });
    const [, completed] = await h.eventually(request.runId, ['audit.run.started', 'audit.run.completed']);
    expect(completed?.outcome?.masking).toEqual({ profile: 'pii', sha256: h.maskingClaim('pii').sha256, counts: { column: 4, credit_card: 1, email: 3, iban: 1 } });
    const recorded = JSON.stringify(h.eventsFor(request.runId));
    for (const raw of ['ada@example.com', '4111 1111 1111 1111', 'DE89370400440532013000', '536-90-4399', '+44 20 7946 0958']) expect(recorded).not.toContain(raw);
  });

  it('applies a table-qualified rule to that table only, and a bare rule to computed columns by name', async () => {
    const result = await h.exec(masked("SELECT u.phone AS a, v.phone AS b, '123' AS ssn FROM users u, vendors v WHERE u.id = 2"));
    expect(result.output).toMatchObject({ rows: [{ a: '[REDACTED]', b: '555 0199', ssn: '[REDACTED]' }] });
  });

  it('masks the values a constraint error quotes, by entity and by column rule', async () => {
    const duplicateEmail = await h.refusal(masked("INSERT INTO users (id, email) VALUES (9, 'ada@example.com')"));
    expect(duplicateEmail.message).toContain('Key (email)=([EMAIL]) already exists');
    expect(duplicateEmail.message).not.toContain('ada@example.com');
    const duplicateSsn = h.sign(`INSERT INTO users (id, email, ssn) VALUES (10, 'x@example.org', '536-90-4399') ${tag()}`, { masking: h.maskingClaim('pii') });
    const refused = await h.refusal(duplicateSsn);
    expect(refused.message).toContain('Key (ssn)=([REDACTED]) already exists');
    const [, failed] = await h.eventually(duplicateSsn.runId, ['audit.run.started', 'audit.run.failed']);
    expect(failed?.outcome?.error).toContain('Key (ssn)=([REDACTED])');
    expect(failed?.outcome?.masking?.counts).toEqual({ column: 1 });
    expect(JSON.stringify(h.eventsFor(duplicateSsn.runId))).not.toContain('536-90-4399');
  });

  it('leaves output unmasked for a ticket that selects no profile', async () => {
    const result = await h.exec(h.sign(`SELECT email FROM users WHERE id = 1 ${tag()}`));
    expect(result.output).toMatchObject({ rows: [{ email: 'ada@example.com' }] });
  });

  it('refuses a ticket signed for another definition of the profile, and runs nothing', async () => {
    const request = h.sign(`INSERT INTO vendors VALUES (2, 'x') ${tag()}`, { masking: { profile: 'pii', sha256: 'f'.repeat(64) } });
    expect(await h.refusal(request)).toMatchObject({ code: 'MASKING_UNAVAILABLE' });
    expect(await h.query('SELECT id FROM vendors WHERE id = 2')).toEqual([]);
  });
});
