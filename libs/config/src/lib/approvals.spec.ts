import { parseConfig } from './load';
import { problems } from '../testing/problems';

const base = `
repositories: [{ name: demo, url: /srv }]
connections: [{ name: prod, type: postgres, url: env:PROD }]
users:
  - { name: alice, groups: [eng] }
  - { name: lead, groups: [sre-leads] }
  - { name: sam, groups: [sre-leads, eng] }
`;

function withRule(approval: string, extra = ''): string {
  return `${base}${extra}rules:\n  - { name: prod-writes, groups: [eng], connections: [prod], runbooks: ["demo/**"], approval: ${approval} }\n`;
}

describe('approval: in rungate.yaml', () => {
  it('parses groups, count and ttl, with one approval in 1h as the default', () => {
    expect(parseConfig(withRule('{ groups: [sre-leads] }')).rules[0]?.approval).toEqual({ groups: ['sre-leads'], count: 1, ttl: 3_600_000 });
    expect(parseConfig(withRule('{ groups: [sre-leads], count: 2, ttl: 15m }')).rules[0]?.approval).toEqual({ groups: ['sre-leads'], count: 2, ttl: 900_000 });
  });

  it.each([
    ['an unknown key', '{ groups: [sre-leads], quorum: 2 }', 'rules[0].approval', /quorum/],
    ['no group', '{ groups: [] }', 'rules[0].approval.groups', /.+/],
    ['a group twice', '{ groups: [sre-leads, sre-leads] }', 'rules[0].approval.groups', /name each group once/],
    ['a count of 0', '{ groups: [sre-leads], count: 0 }', 'rules[0].approval.count', /.+/],
    ['a fractional count', '{ groups: [sre-leads], count: 1.5 }', 'rules[0].approval.count', /.+/],
    ['a ttl that is not a duration', '{ groups: [sre-leads], ttl: soon }', 'rules[0].approval.ttl', /a duration such as/],
    ['a ttl under a minute', '{ groups: [sre-leads], ttl: 30s }', 'rules[0].approval.ttl', /at least 1m/],
    ['a ttl over a week', '{ groups: [sre-leads], ttl: 169h }', 'rules[0].approval.ttl', /at most 168h/],
  ])('refuses %s', (_case, approval, key, message) => {
    expect(problems(withRule(approval))).toContainEqual({ key, message: expect.stringMatching(message) });
  });

  it('refuses an approval that more approvers must give than users: has in the groups', () => {
    expect(problems(withRule('{ groups: [sre-leads], count: 3 }'))).toContainEqual({
      key: 'rules[0].approval.groups',
      message: '3 approvals from sre-leads, but only lead, sam of users: are in them: no run could ever be approved',
    });
    expect(problems(withRule('{ groups: [nobody] }'))).toContainEqual({
      key: 'rules[0].approval.groups',
      message: '1 approval from nobody, but no user in users: is in any of them: no run could ever be approved',
    });
  });

  it('leaves the count to the issuer when OIDC brings other humans and groups', () => {
    const oidc = 'oidc: { issuer: "https://id.example.com", audience: rungate }\n';
    expect(parseConfig(withRule('{ groups: [nobody], count: 3 }', oidc)).rules[0]?.approval?.count).toBe(3);
  });
});
