import { expandSqlKinds } from './guardrails';
import { parseConfig } from './load';
import { problems } from '../testing/problems';

const base = `
repositories: [{ name: demo, url: /srv }]
connections:
  - { name: prod-db, type: postgres, url: env:PROD }
  - { name: replica-1, type: postgres, url: env:REPLICA }
users: [{ name: alice, groups: [eng] }, { name: lee, groups: [leads] }]
rules:
  - { name: eng, groups: [eng], connections: ["*"], runbooks: ["demo/**"], guardrails: [row-cap] }
`;

function withGuardrails(yaml: string, rules = ''): string {
  return `${base}${rules}guardrails:\n${yaml}`;
}

const ROW_CAP = '  - { name: row-cap, on: output, match: { maxRows: 100 } }\n';

describe('guardrails in rungate.yaml', () => {
  it('parses every match form, with deny as the default action', () => {
    const config = parseConfig(
      withGuardrails(`${ROW_CAP}  - name: no-unbounded-writes
    on: input
    connections: [prod-db]
    runbooks: ["demo/postgres/**"]
    match: { sql: { statements: [select, dml], forbid: [ddl], requireWhere: true, maxStatements: 1 } }
    message: Writes on prod must name their rows
  - { name: no-drop-word, on: input, runbooks: ["**"], match: { words: [DROP, TRUNCATE] }, action: warn }
  - { name: no-card-numbers, on: output, connections: ["replica-*"], match: { pattern: '\\b\\d{4}-\\d{4}-\\d{4}-\\d{4}\\b' } }
  - { name: big-delete, on: input, runbooks: ["demo/**"], match: { sql: { forbid: [delete] } }, action: require_approval, approval: { groups: [leads] } }
`),
    );
    expect(config.guardrails.map((g) => [g.name, g.on, g.action])).toEqual([
      ['row-cap', 'output', 'deny'],
      ['no-unbounded-writes', 'input', 'deny'],
      ['no-drop-word', 'input', 'warn'],
      ['no-card-numbers', 'output', 'deny'],
      ['big-delete', 'input', 'require_approval'],
    ]);
    expect(config.guardrails[4]?.approval).toEqual({ groups: ['leads'], count: 1, ttl: 3_600_000 });
    expect(config.rules[0]?.guardrails).toEqual(['row-cap']);
  });

  it('names the key of a pattern RE2 cannot compile', () => {
    expect(problems(withGuardrails(`${ROW_CAP}  - { name: bad, on: output, runbooks: ["**"], match: { pattern: "(a" } }\n`))).toEqual([
      { key: 'guardrails[1].match.pattern', message: expect.stringContaining('not a valid RE2 pattern: error parsing regexp: missing closing )') },
    ]);
    // Backreferences would need backtracking: RE2 refuses them, so no pattern can take exponential time.
    expect(problems(withGuardrails(`${ROW_CAP}  - { name: bad, on: output, runbooks: ["**"], match: { pattern: '(a)\\1' } }\n`))[0]?.key).toBe('guardrails[1].match.pattern');
  });

  it('refuses unknown references: a rule naming a missing guardrail, a guardrail naming a missing connection', () => {
    const found = problems(withGuardrails(`  - { name: no-ddl, on: input, connections: [prod-db, staging-db], match: { sql: { forbid: [ddl] } } }\n`));
    expect(found).toContainEqual({ key: 'rules[0].guardrails[0]', message: 'unknown guardrail "row-cap" (not in guardrails:)' });
    expect(found).toContainEqual({ key: 'guardrails[0].connections[1]', message: 'unknown connection "staging-db"' });
  });

  it('refuses a guardrail attached to nothing, and duplicate names', () => {
    const found = problems(
      withGuardrails(`${ROW_CAP}  - { name: orphan, on: input, match: { words: [x] } }
  - { name: row-cap, on: output, runbooks: ["**"], match: { maxBytes: 10 } }
`),
    );
    expect(found).toContainEqual({ key: 'guardrails[1]', message: expect.stringMatching(/^applies to nothing/) });
    expect(found).toContainEqual({ key: 'guardrails[2].name', message: 'duplicate name "row-cap"' });
  });

  it('refuses an unknown statement kind, naming it', () => {
    expect(problems(withGuardrails(`${ROW_CAP}  - { name: kinds, on: input, runbooks: ["**"], match: { sql: { forbid: [drop, destroy] } } }\n`))).toEqual([
      { key: 'guardrails[1].match.sql.forbid[1]', message: expect.stringMatching(/^Invalid option: expected one of "select"\|/) },
    ]);
  });

  it.each([
    ['{ words: [a], pattern: b }', 'guardrails[1].match', 'give exactly one of words, pattern, maxRows/maxBytes, sql'],
    ['{}', 'guardrails[1].match', 'give exactly one of words, pattern, maxRows/maxBytes, sql'],
    ['{ maxRows: 5 }', 'guardrails[1].match', 'maxRows and maxBytes limit output; use on: output'],
    ['{ sql: { requireWhere: false } }', 'guardrails[1].match.sql', 'checks nothing: give statements, forbid, requireWhere: true or maxStatements'],
    ['{ words: [""] }', 'guardrails[1].match.words[0]', expect.stringContaining('>=1 characters')],
  ])('refuses the input match %s at %s', (match, key, message) => {
    expect(problems(withGuardrails(`${ROW_CAP}  - { name: g, on: input, runbooks: ["**"], match: ${match} }\n`))).toContainEqual({ key, message });
  });

  it('keeps each action to the direction it makes sense in', () => {
    expect(problems(withGuardrails(`${ROW_CAP}  - { name: g, on: output, runbooks: ["**"], match: { sql: { forbid: [ddl] } } }\n`))).toContainEqual({
      key: 'guardrails[1].match.sql',
      message: 'sql checks the body before it runs; use on: input',
    });
    expect(problems(withGuardrails(`${ROW_CAP}  - { name: g, on: output, runbooks: ["**"], match: { words: [x] }, action: require_approval, approval: { groups: [a] } }\n`))).toContainEqual({
      key: 'guardrails[1].action',
      message: expect.stringMatching(/^output guardrails deny or warn/),
    });
    expect(problems(withGuardrails(`${ROW_CAP}  - { name: g, on: input, runbooks: ["**"], match: { words: [x] }, action: require_approval }\n`))).toContainEqual({
      key: 'guardrails[1].approval',
      message: 'require_approval needs approval: { groups: [...] }',
    });
  });

  it('refuses a SQL guardrail on MySQL connections, which PostgreSQL\'s parser cannot read', () => {
    const text = withGuardrails(`${ROW_CAP}  - { name: no-ddl, on: input, connections: ["*"], match: { sql: { forbid: [ddl] } } }\n`).replace(
      '  - { name: replica-1,',
      '  - { name: shop, type: mysql, url: env:SHOP }\n  - { name: replica-1,',
    );
    expect(problems(text)).toEqual([{ key: 'guardrails[1].connections[0]', message: expect.stringMatching(/^matches MySQL connection\(s\) shop: sql guardrails read PostgreSQL's grammar only/) }]);
    expect(() => parseConfig(text.replace('match: { sql: { forbid: [ddl] } }', 'match: { words: [drop] }'))).not.toThrow();
  });

  it('accepts connection globs with ? as globs, for rules and guardrails alike', () => {
    const config = parseConfig(withGuardrails(ROW_CAP, '').replace('connections: ["*"]', 'connections: ["replica-?"]'));
    expect(config.rules[0]?.connections).toEqual(['replica-?']);
  });

  it('expands families into their kinds', () => {
    expect([...expandSqlKinds(['select', 'ddl'])].sort()).toEqual(['alter', 'comment', 'create', 'drop', 'select', 'truncate']);
  });
});
