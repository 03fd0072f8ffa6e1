import { parseConfig } from './load';
import { configFingerprint, diffAdmin } from './diff';

const base = `
repositories: [{ name: demo, url: /srv }]
connections: [{ name: db, type: postgres, url: env:DB }]
users:
  - { name: alice, groups: [eng] }
  - { name: bob, groups: [ops] }
rules:
  - { name: eng, groups: [eng], connections: [db], runbooks: ["demo/**"] }
`;

describe('admin diff', () => {
  it('names rules and users added, removed and changed', () => {
    const before = parseConfig(base);
    const after = parseConfig(
      base
        .replace('{ name: bob, groups: [ops] }', '{ name: bob, groups: [ops, eng] }')
        .replace('  - { name: eng,', '  - { name: ops, groups: [ops], connections: [db], runbooks: ["demo/ops/**"] }\n  - { name: eng,'),
    );
    const diff = diffAdmin(before, after);
    expect(diff.users).toEqual({ added: [], removed: [], changed: ['bob'] });
    expect(diff.rules).toEqual({ added: ['ops'], removed: [], changed: [] });
    expect(diff.tokens).toEqual({ added: [], removed: [], changed: [] });
  });

  it('names guardrails added and changed, so loosening one is an audited change', () => {
    const guarded = `${base}guardrails:\n  - { name: no-ddl, on: input, connections: [db], match: { sql: { forbid: [ddl] } } }\n`;
    const loosened = guarded.replace('forbid: [ddl]', 'forbid: [drop]');
    expect(diffAdmin(parseConfig(base), parseConfig(guarded)).guardrails).toEqual({ added: ['no-ddl'], removed: [], changed: [] });
    expect(diffAdmin(parseConfig(guarded), parseConfig(loosened)).guardrails).toEqual({ added: [], removed: [], changed: ['no-ddl'] });
  });

  it('fingerprints a configuration independently of key order', () => {
    const a = parseConfig(base);
    const b = parseConfig(base.replace('{ name: alice, groups: [eng] }', '{ groups: [eng], name: alice }'));
    expect(configFingerprint(a)).toBe(configFingerprint(b));
  });
});
