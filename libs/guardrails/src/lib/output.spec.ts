import { RungateError, type RunOutput, type SqlOutput } from '@rungate/contracts';
import { OutputGuardrails } from './output';

function sql(rows: SqlOutput['rows'], rowCount = rows.length): SqlOutput {
  return { kind: 'sql', columns: [], rows, rowCount, statements: [{ command: 'SELECT', rowCount }], truncated: rowCount > rows.length };
}

const process: RunOutput = { kind: 'process', exitCode: 0, stdout: 'token=sk_live_abcdef\n', stderr: '', truncated: false };

describe('output guardrails', () => {
  it('count every row the statement returned, also those past the executor’s own cap', () => {
    const cap = OutputGuardrails.compile([{ name: 'row-cap', action: 'deny', match: { maxRows: 2 } }]);
    expect(cap.check(sql([{ id: 1 }, { id: 2 }]))).toEqual([]);
    expect(cap.check(sql([{ id: 1 }, { id: 2 }], 5000))).toEqual([
      { guardrail: 'row-cap', on: 'output', action: 'deny', message: 'the result has 5000 rows, more than 2' },
    ]);
    expect(cap.check(process)).toEqual([]);
  });

  it('measure bytes as the reply carries the output', () => {
    const output = sql([{ note: 'x'.repeat(100) }]);
    const size = Buffer.byteLength(JSON.stringify(output));
    expect(OutputGuardrails.compile([{ name: 'small', action: 'warn', match: { maxBytes: size } }]).check(output)).toEqual([]);
    expect(OutputGuardrails.compile([{ name: 'small', action: 'warn', match: { maxBytes: size - 1 } }]).check(output)).toEqual([
      { guardrail: 'small', on: 'output', action: 'warn', message: `the output is ${size} bytes, more than ${size - 1}` },
    ]);
  });

  it('find patterns and words in values, naming the column or stream and never the value', () => {
    const guardrails = OutputGuardrails.compile([
      { name: 'no-cards', action: 'deny', message: 'Card numbers stay in the database', match: { pattern: '\\b\\d{4}-\\d{4}-\\d{4}-\\d{4}\\b' } },
      { name: 'no-secrets', action: 'deny', match: { words: ['sk_live_abcdef', 'password'] } },
    ]);
    const rows = sql([{ id: 1, card: null, meta: { history: ['4111-1111-1111-1111'] } }]);
    const findings = guardrails.check(rows);
    expect(findings).toEqual([
      { guardrail: 'no-cards', on: 'output', action: 'deny', message: 'Card numbers stay in the database (text matching its pattern is in the output (column meta))' },
    ]);
    expect(JSON.stringify(findings)).not.toContain('4111');
    expect(guardrails.check(process)).toEqual([expect.objectContaining({ guardrail: 'no-secrets', message: 'the word "sk_live_abcdef" is in the output (stdout)' })]);
    expect(guardrails.check(sql([{ id: 1, note: 'password_hint' }]))).toEqual([]);
  });

  it('screen error messages with words and patterns', () => {
    const guardrails = OutputGuardrails.compile([{ name: 'no-cards', action: 'deny', match: { pattern: '\\d{4}-\\d{4}-\\d{4}-\\d{4}' } }, { name: 'cap', action: 'deny', match: { maxRows: 1 } }]);
    expect(guardrails.checkMessage('duplicate key value violates unique constraint "cards_pkey": Key (number)=(4111-1111-1111-1111) already exists')).toEqual([
      expect.objectContaining({ guardrail: 'no-cards', message: 'text matching its pattern is in the error message' }),
    ]);
    expect(guardrails.checkMessage('relation "t" does not exist')).toEqual([]);
  });

  it('refuse a ticket whose pattern this executor cannot compile', () => {
    const compile = () => OutputGuardrails.compile([{ name: 'odd', action: 'deny', match: { pattern: '(?<name>x' } }]);
    expect(compile).toThrow(RungateError);
    expect(compile).toThrow(/^the ticket's output guardrail odd cannot be compiled here/);
  });
});
