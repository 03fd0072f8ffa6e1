import { parseConfig } from './load';
import { configFingerprint, diffConfig } from './diff';

const base = `
repositories: [{ name: demo, url: /srv }]
connections: [{ name: db, type: postgres, url: env:DB }]
users:
  - { name: alice, groups: [eng] }
  - { name: bob, groups: [ops] }
tokens:
  - { sha256: "${'a'.repeat(64)}", user: alice, agent: claude-code }
rules:
  - { name: eng, groups: [eng], connections: [db], runbooks: ["demo/**"] }
`;

describe('config diff', () => {
  it('names rules and users added, removed and changed, with the keys and values that changed', () => {
    const before = parseConfig(base);
    const after = parseConfig(
      base
        .replace('{ name: bob, groups: [ops] }', '{ name: bob, groups: [ops, eng] }')
        .replace('  - { name: eng,', '  - { name: ops, groups: [ops], connections: [db], runbooks: ["demo/ops/**"] }\n  - { name: eng,'),
    );
    expect(diffConfig(before, after)).toEqual({
      users: { added: [], removed: [], changed: [{ name: 'bob', keys: [{ key: 'groups', before: ['ops'], after: ['ops', 'eng'] }] }] },
      rules: { added: ['ops'], removed: [], changed: [] },
    });
  });

  it('leaves out what did not change', () => {
    expect(diffConfig(parseConfig(base), parseConfig(base))).toEqual({});
  });

  it('shows connections by their secret references, never a resolved value', () => {
    process.env['DB'] = 'postgres://app:hunter2@db/app';
    const after = parseConfig(base.replace('url: env:DB }', 'url: env:DB_REPLICA, maxRows: 10 }'));
    const diff = diffConfig(parseConfig(base), after);
    expect(diff.connections?.changed).toEqual([
      { name: 'db', keys: [{ key: 'maxRows', before: 1000, after: 10 }, { key: 'url', before: 'env:DB', after: 'env:DB_REPLICA' }] },
    ]);
    expect(JSON.stringify(diff)).not.toContain('hunter2');
  });

  it('names a static token by a prefix of its hash, and keeps no more of the hash', () => {
    const after = parseConfig(base.replace(`"${'a'.repeat(64)}"`, `"${'b'.repeat(64)}"`).replace('agent: claude-code }', 'agent: claude-code, scopes: [audit:read] }'));
    const diff = diffConfig(parseConfig(base), after);
    expect(diff.tokens).toEqual({ added: ['bbbbbbbbbbbb (alice/claude-code)'], removed: ['aaaaaaaaaaaa (alice/claude-code)'], changed: [] });
    const scoped = diffConfig(parseConfig(base), parseConfig(base.replace('agent: claude-code }', 'agent: claude-code, scopes: [audit:read] }')));
    expect(scoped.tokens?.changed).toEqual([{ name: 'aaaaaaaaaaaa (alice/claude-code)', keys: [{ key: 'scopes', before: [], after: ['audit:read'] }] }]);
    expect(JSON.stringify(diff)).not.toContain('a'.repeat(13));
  });

  it('covers repositories, audit sinks and the single blocks as settings', () => {
    const after = parseConfig(
      `${base.replace('url: /srv }', 'url: /srv, branch: release }')}
gateway: { callTimeout: 5s }
audit:
  sinks: [{ name: siem, type: webhook, url: "https://siem.example.com/h", secret: env:HOOK }]
`,
    );
    const diff = diffConfig(parseConfig(base), after);
    expect(diff.repositories?.changed).toEqual([{ name: 'demo', keys: [{ key: 'branch', before: 'main', after: 'release' }] }]);
    expect(diff.sinks).toEqual({ added: ['siem'], removed: [], changed: [] });
    expect(diff.settings?.changed).toEqual([{ name: 'gateway', keys: [{ key: 'callTimeout', before: 60_000, after: 5000 }] }]);
  });

  it('names guardrails added and changed, so loosening one is an audited change', () => {
    const guarded = `${base}guardrails:\n  - { name: no-ddl, on: input, connections: [db], match: { sql: { forbid: [ddl] } } }\n`;
    const loosened = guarded.replace('forbid: [ddl]', 'forbid: [drop]');
    expect(diffConfig(parseConfig(base), parseConfig(guarded)).guardrails).toEqual({ added: ['no-ddl'], removed: [], changed: [] });
    expect(diffConfig(parseConfig(guarded), parseConfig(loosened)).guardrails?.changed).toEqual([
      { name: 'no-ddl', keys: [{ key: 'match.sql.forbid', before: ['ddl'], after: ['drop'] }] },
    ]);
  });

  it('bounds what one section lists', () => {
    const many = (n: number) => `${base}\n${Array.from({ length: n }, (_, i) => `  - { name: r${i}, groups: [eng], connections: [db], runbooks: ["demo/${i}"] }`).join('\n')}`;
    const diff = diffConfig(parseConfig(base), parseConfig(many(150)));
    expect(diff.rules?.added).toHaveLength(100);
    expect(diff.rules).toMatchObject({ truncated: { added: 150, removed: 0, changed: 0 } });
  });

  it('fingerprints a configuration independently of key order', () => {
    const a = parseConfig(base);
    const b = parseConfig(base.replace('{ name: alice, groups: [eng] }', '{ groups: [eng], name: alice }'));
    expect(configFingerprint(a)).toBe(configFingerprint(b));
  });
});
