import { parseConfig } from '@rungate/config';
import { parseRunbook, renderRunbook, type ParsedRunbook } from '@rungate/runbooks';
import fc from 'fast-check';
import { guardrailVerdict } from './findings';
import { Guardrails, type InputToCheck } from './guardrails';
import { loadSqlParser, type SqlParser } from './sql-parser';

let parser: SqlParser;
let compiled: Guardrails;
beforeAll(async () => {
  parser = await loadSqlParser();
  compiled = Guardrails.compile(parseConfig(CONFIG), parser);
});

const CONFIG = `
repositories: [{ name: demo, url: /srv }]
connections:
  - { name: prod-db, type: postgres, url: env:PROD }
  - { name: staging-db, type: postgres, url: env:STAGING }
  - { name: box, type: shell }
users: [{ name: alice, groups: [eng] }, { name: lee, groups: [leads] }]
rules:
  - { name: eng, groups: [eng], connections: ["*"], runbooks: ["demo/**"], guardrails: [row-cap] }
  - { name: ops, groups: [ops], connections: ["*"], runbooks: ["demo/**"] }
guardrails:
  - name: no-unbounded-writes
    on: input
    connections: ["prod-*"]
    match: { sql: { requireWhere: true } }
    message: Writes on production must name their rows
  - { name: reports-read-only, on: input, runbooks: ["demo/reports/**"], match: { sql: { statements: [select] } } }
  - { name: no-drop-word, on: input, runbooks: ["**"], match: { words: [drop, truncate] }, action: warn }
  - { name: no-rm-rf, on: input, connections: [box], runbooks: ["demo/ops/**"], match: { pattern: 'rm\\s+-[a-z]*r[a-z]*f' } }
  - { name: big-delete, on: input, connections: [staging-db], match: { sql: { forbid: [delete] } }, action: require_approval, approval: { groups: [leads] } }
  - { name: row-cap, on: output, match: { maxRows: 100 } }
  - { name: no-card-numbers, on: output, connections: ["prod-*"], match: { pattern: '\\d{4}-\\d{4}-\\d{4}-\\d{4}' }, message: Card numbers stay in the database }
`;

function guardrails(): Guardrails {
  return compiled;
}

function input(overrides: Partial<InputToCheck>): InputToCheck {
  return { connection: 'prod-db', runbook: 'demo/pg/x.runbook.sql', rule: 'eng', body: 'SELECT 1', language: 'sql', params: {}, ...overrides };
}

describe('which guardrails apply', () => {
  it('by connection, by runbook (both when both are given) and by the rule that allowed the run', () => {
    const applying = (connection: string, runbook: string, rule?: string) =>
      guardrails()
        .applicable({ connection, runbook, rule })
        .map((a) => `${a.guardrail.name} (${a.attachedBy.join('; ')})`);
    expect(applying('prod-db', 'demo/pg/x.runbook.sql', 'eng')).toEqual([
      'no-unbounded-writes (connections prod-*)',
      'no-drop-word (runbooks **)',
      'row-cap (rule eng)',
      'no-card-numbers (connections prod-*)',
    ]);
    expect(applying('box', 'demo/ops/clean.runbook.sh', 'ops')).toEqual(['no-drop-word (runbooks **)', 'no-rm-rf (connections box; runbooks demo/ops/**)']);
    expect(applying('box', 'demo/pg/x.runbook.sh', 'ops')).toEqual(['no-drop-word (runbooks **)']);
    expect(applying('staging-db', 'demo/reports/daily.runbook.sql')).toEqual([
      'reports-read-only (runbooks demo/reports/**)',
      'no-drop-word (runbooks **)',
      'big-delete (connections staging-db)',
    ]);
  });

  it('puts output guardrails in the form a ticket carries', () => {
    expect(guardrails().outputFor({ connection: 'prod-db', runbook: 'demo/pg/x.runbook.sql', rule: 'eng' })).toEqual([
      { name: 'row-cap', action: 'deny', match: { maxRows: 100 } },
      { name: 'no-card-numbers', action: 'deny', message: 'Card numbers stay in the database', match: { pattern: '\\d{4}-\\d{4}-\\d{4}-\\d{4}' } },
    ]);
    expect(guardrails().outputFor({ connection: 'staging-db', runbook: 'demo/pg/x.runbook.sql', rule: 'ops' })).toEqual([]);
  });
});

describe('input guardrails', () => {
  it('deny with the operator’s message and what matched', () => {
    expect(guardrails().checkInput(input({ body: 'DELETE FROM users' }))).toEqual([
      {
        guardrail: 'no-unbounded-writes',
        on: 'input',
        action: 'deny',
        message: 'Writes on production must name their rows (statement 1 (line 1): DELETE without a WHERE clause would change every row)',
      },
    ]);
    expect(guardrails().checkInput(input({ connection: 'staging-db', body: 'DELETE FROM users' }))).toEqual([
      expect.objectContaining({ guardrail: 'big-delete', action: 'require_approval', approval: { groups: ['leads'], count: 1, ttl: 3_600_000 } }),
    ]);
  });

  it('check words and patterns in the body and in every parameter, naming only the parameter', () => {
    const found = guardrails().checkInput(input({ body: "SELECT 'x'", params: { note: 'please DROP it', ok: 'fine' } }));
    expect(found).toEqual([{ guardrail: 'no-drop-word', on: 'input', action: 'warn', message: 'the word "drop" is in parameter note' }]);
    expect(guardrails().checkInput(input({ body: "SELECT 'dropdown', 'backdrop'" }))).toEqual([]);
    const script = input({ connection: 'box', runbook: 'demo/ops/clean.runbook.sh', rule: 'ops', language: 'shell', body: 'cd /srv && rm  -rf ./cache\n' });
    expect(guardrails().checkInput(script)).toEqual([expect.objectContaining({ guardrail: 'no-rm-rf', message: 'text matching its pattern is in the body' })]);
  });

  it('apply SQL rules only to SQL bodies', () => {
    const script = input({ connection: 'prod-db', language: 'shell', body: 'psql -c "DELETE FROM t"' });
    expect(guardrails().checkInput(script)).toEqual([]);
  });

  it('refuse a MySQL body under a SQL guardrail: PostgreSQL would read /*! … */ as a comment', () => {
    expect(guardrails().checkInput(input({ dialect: 'mysql', body: 'SELECT 1 /*! ; DELETE FROM users */' }))).toEqual([
      expect.objectContaining({ guardrail: 'no-unbounded-writes', action: 'deny', message: expect.stringContaining("SQL guardrails read PostgreSQL's grammar") }),
    ]);
  });

  it('deny a body the parser cannot read, even where the guardrail would only have asked for approval', () => {
    const findings = guardrails().checkInput(input({ connection: 'staging-db', body: 'DELETE FRM users' }));
    expect(findings).toEqual([expect.objectContaining({ guardrail: 'big-delete', action: 'deny', message: expect.stringContaining('does not parse as PostgreSQL') })]);
    expect(findings[0]).not.toHaveProperty('approval');
  });

  it('rank deny over approval over warning', () => {
    const findings = guardrails().checkInput(input({ connection: 'staging-db', runbook: 'demo/reports/x.runbook.sql', body: 'DELETE FROM t WHERE id = 1; DROP TABLE u' }));
    const verdict = guardrailVerdict(findings);
    expect(verdict.denied.map((f) => f.guardrail)).toEqual(['reports-read-only']);
    expect(verdict.approvals.map((f) => f.guardrail)).toEqual(['big-delete']);
    expect(verdict.warnings.map((f) => f.guardrail)).toEqual(['no-drop-word']);
  });

  it('refuse to compile SQL guardrails without the parser', () => {
    expect(() => Guardrails.compile(parseConfig(CONFIG))).toThrow('guardrail no-unbounded-writes checks SQL: load the parser first (loadSqlParser)');
  });
});

describe('no parameter value changes what a SQL guardrail sees', () => {
  function runbook(source: string): ParsedRunbook {
    const parsed = parseRunbook('pg/x.runbook.sql', source);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.findings));
    return parsed.runbook;
  }
  const bounded = runbook("DELETE FROM users WHERE email = '{{ .email }}' AND note = E'{{ .note }}' AND {{ .col | type \"identifier\" }} = {{ .n | type \"number\" }};\n");
  const unbounded = runbook("DELETE FROM users RETURNING '{{ .email }}', \"{{ .label }}\";\n");
  const hostile = fc.oneof(fc.string(), fc.constantFrom("'; DELETE FROM users; --", "' WHERE id = 1 --", '$$ WHERE $$', '*/ WHERE /*', '\\', '"; DROP TABLE t; --'));
  const sqlFindings = (body: string) =>
    guardrails()
      .checkInput(input({ body }))
      .map((f) => f.guardrail)
      .filter((name) => name !== 'no-drop-word');
  const number = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })).map(String);

  it('a WHERE the runbook has stays the only statement, with its WHERE, whatever the values', () => {
    const values = fc.record({ email: hostile, note: hostile, col: hostile.filter((s) => s.length > 0), n: number });
    fc.assert(
      fc.property(values, (v) => {
        const body = renderRunbook(bounded, v);
        expect(sqlFindings(body)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('a WHERE the runbook lacks cannot be supplied by a value', () => {
    fc.assert(
      fc.property(fc.record({ email: hostile, label: hostile }), (v) => {
        const body = renderRunbook(unbounded, v);
        expect(sqlFindings(body)).toEqual(['no-unbounded-writes']);
      }),
      { numRuns: 300 },
    );
  });
});
