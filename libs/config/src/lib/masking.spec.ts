import { problems } from '../testing/problems';
import { parseConfig } from './load';

const base = (masking: string, extra = '') => `
repositories: [{ name: demo, url: /srv/runbooks }]
connections:
  - { name: app-db, type: postgres, url: env:APP_DB }
  - { name: box, type: shell }
rules:
  - { name: eng, groups: [eng], connections: [app-db], runbooks: ["**"] }
${extra}
masking:
${masking}
`;

describe('masking: in rungate.yaml', () => {
  it('parses profiles with strategies, custom entities, columns and a hash key reference', () => {
    const config = parseConfig(
      base(`  - name: pii-strict
    threshold: 0.6
    entities: { email: redact, credit_card: { strategy: mask, keep: 4 }, phone: hash }
    custom:
      - { name: employee_id, pattern: 'EMP-[0-9]{6}', score: 0.9 }
      - { name: codename, denyList: [nightjar] }
    columns: [email, "*.ssn", { match: users.phone, strategy: mask }]
    hashKey: env:RUNGATE_MASKING_KEY`),
    );
    expect(config.masking[0]).toEqual({
      name: 'pii-strict',
      threshold: 0.6,
      entities: { email: { strategy: 'redact' }, credit_card: { strategy: 'mask', keep: 4 }, phone: { strategy: 'hash' } },
      custom: [
        { name: 'employee_id', pattern: 'EMP-[0-9]{6}', score: 0.9, strategy: 'redact' },
        { name: 'codename', denyList: ['nightjar'], score: 0.8, strategy: 'redact' },
      ],
      columns: [
        { match: 'email', strategy: 'redact' },
        { match: '*.ssn', strategy: 'redact' },
        { match: 'users.phone', strategy: 'mask' },
      ],
      hashKey: 'env:RUNGATE_MASKING_KEY',
    });
  });

  it('names the key of a pattern RE2 cannot compile (look-arounds included)', () => {
    expect(problems(base(`  - { name: p, custom: [{ name: x, pattern: 'a(' }, { name: y, pattern: '(?=a)' }] }`))).toEqual([
      { key: 'masking[0].custom[0].pattern', message: expect.stringMatching(/^not an RE2 pattern: .*missing closing \)/) },
      { key: 'masking[0].custom[1].pattern', message: expect.stringMatching(/^not an RE2 pattern/) },
    ]);
  });

  it('refuses unknown entities, a literal hash key, hash without a key and partial where no format is known', () => {
    expect(problems(base('  - { name: p, entities: { passport: redact } }'))).toEqual([{ key: 'masking[0].entities', message: expect.stringContaining('passport') }]);
    expect(problems(base('  - { name: p, entities: { email: hash } }'))).toEqual([{ key: 'masking[0].hashKey', message: expect.stringContaining('needs hashKey') }]);
    expect(problems(base('  - { name: p, entities: { email: hash }, hashKey: "s3cret" }'))).toEqual([{ key: 'masking[0].hashKey', message: expect.stringContaining('secret reference') }]);
    expect(problems(base('  - { name: p, columns: [{ match: ssn, strategy: partial }], custom: [{ name: c, denyList: [x], strategy: partial }] }'))).toEqual([
      { key: 'masking[0].custom[0].strategy', message: expect.stringContaining('use mask or redact') },
      { key: 'masking[0].columns[0].strategy', message: expect.stringContaining('use mask or redact') },
    ]);
    expect(problems(base('  - { name: p, custom: [{ name: email, pattern: x }, { name: c }] }'))).toEqual([
      { key: 'masking[0].custom[0].name', message: expect.stringContaining('built-in') },
      { key: 'masking[0].custom[1].pattern', message: 'give a pattern, a denyList or both' },
    ]);
  });

  it('refuses a profile named none, duplicate profiles and bad column patterns', () => {
    expect(problems(base('  - { name: none }'))).toEqual([{ key: 'masking[0].name', message: expect.stringContaining('reserved') }]);
    expect(problems(base('  - { name: p }\n  - { name: p }'))).toEqual([{ key: 'masking[1].name', message: 'duplicate name "p"' }]);
    expect(problems(base('  - { name: p, columns: ["a.b.c.d", "has space"] }'))).toEqual([
      { key: 'masking[0].columns[0]', message: expect.stringContaining('schema.table.column') },
      { key: 'masking[0].columns[1]', message: expect.stringContaining('schema.table.column') },
    ]);
  });

  it('checks every profile a connection or rule selects; none only on rules', () => {
    const text = `
repositories: [{ name: demo, url: /srv/runbooks }]
connections:
  - { name: app-db, type: postgres, url: env:APP_DB, masking: pii }
  - { name: box, type: shell, masking: nope }
  - { name: bare, type: shell, masking: none }
rules:
  - { name: a, groups: [g], connections: [app-db], runbooks: ["**"], masking: none }
  - { name: b, groups: [g], connections: [box], runbooks: ["**"], masking: gone }
masking:
  - { name: pii, entities: { email: redact } }
`;
    expect(problems(text)).toEqual([
      { key: 'connections[1].masking', message: 'unknown masking profile "nope" (one of pii)' },
      { key: 'connections[2].masking', message: expect.stringContaining('none is for rules') },
      { key: 'rules[1].masking', message: 'unknown masking profile "gone" (one of pii, or none)' },
    ]);
  });
});
