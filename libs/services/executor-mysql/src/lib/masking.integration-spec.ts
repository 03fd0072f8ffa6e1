import { randomUUID } from 'node:crypto';
import { maskingClaimFor } from '@rungate/testing';
import { ExecutorHarness } from '../testing/executor-harness';

describe('executor-mysql masks what leaves it (profile pii of its rungate.yaml)', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await ExecutorHarness.create('masking');
    await h.query(`
      CREATE TABLE users (id int PRIMARY KEY, email varchar(200) NOT NULL UNIQUE, card varchar(40), phone varchar(40), ssn varchar(20) UNIQUE) ENGINE=InnoDB;
      INSERT INTO users VALUES (1, 'ada@example.com', '4111 1111 1111 1111', '+44 20 7946 0958', '536-90-4399'), (2, 'grace@example.com', '4111111111111112', '555 0100', NULL);
      CREATE TABLE vendors (id int PRIMARY KEY, phone varchar(40)) ENGINE=InnoDB;
      INSERT INTO vendors VALUES (1, '555 0199');`);
    await h.startReplica();
  });

  afterAll(async () => {
    await h?.close();
  });

  const tag = () => `/* ${randomUUID()} */`;
  const masked = (body: string) => h.sign(`${body} ${tag()}`, { masking: maskingClaimFor(h.configFile, 'pii') });

  it('masks entities, and ruled columns by the source MySQL names behind an alias', async () => {
    const request = masked('SELECT u.id, u.email, u.card, u.phone AS tel, v.phone AS vendor_phone, u.ssn FROM users u JOIN vendors v ON v.id = 1 ORDER BY u.id');
    const result = await h.exec(request);
    expect(result.output).toMatchObject({
      kind: 'sql',
      columns: [
        { name: 'id', type: 'int' },
        { name: 'email', type: 'varchar' },
        { name: 'card', type: 'varchar' },
        { name: 'tel', type: 'varchar' },
        { name: 'vendor_phone', type: 'varchar' },
        { name: 'ssn', type: 'varchar' },
      ],
      rows: [
        { id: 1, email: '[EMAIL]', card: '****1111', tel: '[REDACTED]', vendor_phone: '555 0199', ssn: '[REDACTED]' },
        { id: 2, email: '[EMAIL]', card: '4111111111111112', tel: '[REDACTED]', vendor_phone: '555 0199', ssn: null },
      ],
    });
    expect(JSON.stringify(result.output.kind === 'sql' ? result.output.columns : [])).not.toContain('source');
    const [, completed] = await h.eventually(request.runId, ['audit.run.started', 'audit.run.completed']);
    expect(completed?.outcome?.masking?.counts).toEqual({ column: 3, credit_card: 1, email: 2 });
  });

  it('masks the value a duplicate-key error quotes', async () => {
    const refused = await h.refusal(masked("INSERT INTO users (id, email, ssn) VALUES (9, 'x@example.org', '536-90-4399')"));
    expect(refused.message).toMatch(/Duplicate entry '\[REDACTED\]' for key/);
    expect(refused.message).not.toContain('536-90-4399');
    const byEmail = await h.refusal(masked("INSERT INTO users (id, email) VALUES (10, 'ada@example.com')"));
    expect(byEmail.message).not.toContain('ada@example.com');
  });
});
