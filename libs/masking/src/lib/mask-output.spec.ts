import type { ProcessOutput, SqlOutput } from '@rungate/contracts';
import { profileDefinition } from '../testing/profiles';
import { maskMessage, maskProcessOutput, maskRunOutput, maskSqlOutput } from './mask-output';
import { compileMaskingProfile } from './profile';
import { MaskingTally } from './tally';

const profile = compileMaskingProfile(
  profileDefinition({
    entities: { email: 'redact', credit_card: 'mask', iban: 'partial', private_key: 'redact' },
    columns: ['ssn', { match: 'users.phone', strategy: 'mask' }, { match: 'public.*.secret_*', strategy: 'hash' }],
    hashKey: 'env:K',
  }),
  'executor-only-key',
);

function sql(columns: SqlOutput['columns'], rows: SqlOutput['rows'], truncated = false): SqlOutput {
  return { kind: 'sql', columns, rows, rowCount: rows.length, statements: [{ command: 'SELECT', rowCount: rows.length }], truncated };
}

const source = (table: string, column: string, schema = 'public') => ({ schema, table, column });

describe('maskSqlOutput', () => {
  it('masks entities in every cell and keeps the result structured: same columns, keys and row count', () => {
    const tally = new MaskingTally();
    const output = sql(
      [
        { name: 'id', type: 'int4' },
        { name: 'email', type: 'text' },
        { name: 'card', type: 'text' },
        { name: 'bad_card', type: 'text' },
        { name: 'iban', type: 'varchar' },
      ],
      [
        { id: 1, email: 'ada@example.com', card: '4111 1111 1111 1111', bad_card: '4111111111111112', iban: 'DE89370400440532013000' },
        { id: 2, email: 'grace@example.org', card: null, bad_card: 'n/a', iban: 'none' },
      ],
    );
    const masked = maskSqlOutput(output, profile, tally, 1024 * 1024);
    expect(masked.columns).toEqual(output.columns);
    expect(masked.rows).toEqual([
      { id: 1, email: '[EMAIL]', card: '****1111', bad_card: '4111111111111112', iban: 'DE****************3000' },
      { id: 2, email: '[EMAIL]', card: null, bad_card: 'n/a', iban: 'none' },
    ]);
    expect(masked.rowCount).toBe(2);
    expect(tally.toRecord()).toEqual({ credit_card: 1, email: 2, iban: 1 });
  });

  it('masks a ruled column whatever it holds: by name, by source behind an alias, by table and by glob', () => {
    const tally = new MaskingTally();
    const output = sql(
      [
        { name: 'ssn', type: 'text' },
        { name: 'tel', type: 'text', source: source('users', 'phone') },
        { name: 'phone', type: 'text', source: source('vendors', 'phone') },
        { name: 'token', type: 'text', source: source('accounts', 'secret_token') },
        { name: 'x', type: 'int8', source: source('people', 'ssn', 'hr') },
      ],
      [{ ssn: '536904399', tel: '5550143', phone: '5550143', token: 'abc', x: '536904399' }],
    );
    const [row] = maskSqlOutput(output, profile, tally, 1024 * 1024).rows;
    expect(row).toEqual({ ssn: '[REDACTED]', tel: '****143', phone: '5550143', token: expect.stringMatching(/^\[REDACTED#[g-v]{16}\]$/), x: '[REDACTED]' });
    expect(tally.toRecord()).toEqual({ column: 4 });
  });

  it('never sends the source columns it needed for the rules', () => {
    const output = sql([{ name: 'tel', type: 'text', source: source('users', 'phone') }], [{ tel: '1' }]);
    expect(maskSqlOutput(output, profile, new MaskingTally(), 1024).columns).toEqual([{ name: 'tel', type: 'text' }]);
  });

  it('keeps NULL in a ruled column and masks JSON values inside, keys included', () => {
    const output = sql(
      [
        { name: 'ssn', type: 'text' },
        { name: 'doc', type: 'jsonb' },
        { name: 'amount', type: 'numeric' },
      ],
      [{ ssn: null, doc: { contact: { 'ada@example.com': ['4111111111111111', 3] } }, amount: '4111111111111111' }],
    );
    expect(maskSqlOutput(output, profile, new MaskingTally(), 1024 * 1024).rows).toEqual([
      { ssn: null, doc: { contact: { '[EMAIL]': ['****1111', 3] } }, amount: '****1111' },
    ]);
  });

  it('scans numbers (a card kept as float8 in jsonb) but not types that cannot hold an entity', () => {
    const output = sql(
      [
        { name: 'n', type: 'jsonb' },
        { name: 'at', type: 'timestamptz' },
      ],
      [{ n: 4111111111111111, at: '4111111111111111' }],
    );
    expect(maskSqlOutput(output, profile, new MaskingTally(), 1024 * 1024).rows).toEqual([{ n: '****1111', at: '4111111111111111' }]);
  });

  it('drops rows that no longer fit the byte cap once masked, and says it truncated', () => {
    const rows = Array.from({ length: 10 }, () => ({ e: 'a@b.io' }));
    const output = sql([{ name: 'e', type: 'text' }], rows);
    const exact = JSON.stringify(rows).length;
    const masked = maskSqlOutput(output, profile, new MaskingTally(), exact);
    expect(masked.rows.length).toBeLessThan(10);
    expect(JSON.stringify(masked.rows).length).toBeLessThanOrEqual(exact);
    expect(masked.truncated).toBe(true);
    expect(masked.rowCount).toBe(10);
  });

  it('leaves truncated as it was when masking made nothing longer', () => {
    const output = sql([{ name: 'e', type: 'text' }], [{ e: 'someone@example.com' }], true);
    expect(maskSqlOutput(output, profile, new MaskingTally(), 40).truncated).toBe(true);
    expect(maskSqlOutput({ ...output, truncated: false }, profile, new MaskingTally(), 40).truncated).toBe(false);
  });
});

function processOutput(stdout: string, stderr = '', truncated = false): ProcessOutput {
  return { kind: 'process', exitCode: 0, stdout, stderr, truncated };
}

describe('maskProcessOutput', () => {
  it('masks stdout and stderr', () => {
    const tally = new MaskingTally();
    const masked = maskProcessOutput(processOutput('user ada@example.com\n', 'card 4111111111111111 declined\n'), profile, tally, 1024);
    expect(masked).toEqual(processOutput('user [EMAIL]\n', 'card ****1111 declined\n'));
    expect(tally.toRecord()).toEqual({ credit_card: 1, email: 1 });
  });

  it('withholds the word the byte cap cut, where a value could be cut too short to detect', () => {
    const masked = maskProcessOutput(processOutput('ok\ncard 4111 1111 1111 11', 'mail alice@example.c', true), profile, new MaskingTally(), 1024);
    expect(masked.stdout).toBe('ok\ncard 4111 1111 1111 ');
    expect(masked.stderr).toBe('mail ');
    expect(masked.truncated).toBe(true);
  });

  it('masks a private key cut by the cap to the end of the output', () => {
    const masked = maskProcessOutput(processOutput('-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nMIIEv', '', true), profile, new MaskingTally(), 1024);
    expect(masked.stdout).toBe('[PRIVATE_KEY]');
  });

  it('cuts again, within the cap, when masking made the output longer', () => {
    const stdout = 'a@b.io '.repeat(10);
    const masked = maskProcessOutput(processOutput(stdout), profile, new MaskingTally(), stdout.length);
    expect(Buffer.byteLength(masked.stdout)).toBeLessThanOrEqual(stdout.length);
    expect(masked.stdout).not.toMatch(/@/);
    expect(masked.truncated).toBe(true);
  });

  it('is what maskRunOutput does for process output', () => {
    expect(maskRunOutput(processOutput('ada@example.com'), profile, new MaskingTally(), 100)).toEqual(processOutput('[EMAIL]'));
  });
});

describe('maskMessage', () => {
  it('masks entities in an error message', () => {
    const tally = new MaskingTally();
    const message = 'duplicate key value violates unique constraint "users_email_key" (Key (email)=(alice@example.com) already exists.) [SQLSTATE 23505]';
    expect(maskMessage(message, profile, tally)).toBe('duplicate key value violates unique constraint "users_email_key" (Key (email)=([EMAIL]) already exists.) [SQLSTATE 23505]');
    expect(tally.toRecord()).toEqual({ email: 1 });
  });

  it('masks the values of a key whose column has a rule, whatever they look like', () => {
    const message = 'duplicate key value violates unique constraint "people_ssn_key" (Key (ssn)=(536904399) already exists.) [SQLSTATE 23505]';
    expect(maskMessage(message, profile, new MaskingTally())).toBe(
      'duplicate key value violates unique constraint "people_ssn_key" (Key (ssn)=([REDACTED]) already exists.) [SQLSTATE 23505]',
    );
    const foreign = 'insert violates foreign key constraint (Key (org, phone)=(7, 555 0143) is not present in table "users".) [SQLSTATE 23503]';
    expect(maskMessage(foreign, profile, new MaskingTally())).toBe('insert violates foreign key constraint (Key (org, phone)=(****0143) is not present in table "users".) [SQLSTATE 23503]');
  });

  it('masks a failing row whole: its columns are not named, any could be ruled', () => {
    const message = 'null value in column "email" violates not-null constraint (Failing row contains (3, Ada (Countess), null, 536904399).) [SQLSTATE 23502]';
    expect(maskMessage(message, profile, new MaskingTally())).toBe('null value in column "email" violates not-null constraint (Failing row contains ([REDACTED]).) [SQLSTATE 23502]');
  });

  it('masks the value MySQL and MariaDB quote in duplicate-key and bad-value errors', () => {
    const duplicate = "Duplicate entry 'Ada O'Neil' for key 'users.name_unique' [ER_DUP_ENTRY]; the transaction was rolled back";
    expect(maskMessage(duplicate, profile, new MaskingTally())).toBe("Duplicate entry '[REDACTED]' for key 'users.name_unique' [ER_DUP_ENTRY]; the transaction was rolled back");
    const incorrect = "Incorrect integer value: '536-90-4399' for column `app`.`users`.`age` at row 1";
    expect(maskMessage(incorrect, profile, new MaskingTally())).toBe("Incorrect integer value: '[REDACTED]' for column `app`.`users`.`age` at row 1");
  });

  it('leaves keys of columns without a rule to the entity detectors', () => {
    const message = 'x (Key (id)=(42) already exists.)';
    expect(maskMessage(message, profile, new MaskingTally())).toBe(message);
  });
});
