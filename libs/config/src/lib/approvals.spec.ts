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

  it('parses allGroups and breakGlassGroups', () => {
    expect(parseConfig(withRule('{ groups: [sre-leads, eng], count: 2, allGroups: true, breakGlassGroups: [sre-leads] }')).rules[0]?.approval).toEqual({
      groups: ['sre-leads', 'eng'],
      count: 2,
      allGroups: true,
      breakGlassGroups: ['sre-leads'],
      ttl: 3_600_000,
    });
  });

  it('parses a change window: every day in UTC unless it says otherwise, across midnight when to is before from', () => {
    expect(parseConfig(withRule('{ groups: [sre-leads], window: { from: "09:00", to: "17:00" } }')).rules[0]?.approval?.window).toEqual({
      days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
      from: '09:00',
      to: '17:00',
      timeZone: 'UTC',
    });
    const night = '{ groups: [sre-leads], window: { days: [fri, sat], from: "22:00", to: "02:00", timeZone: Europe/Berlin } }';
    expect(parseConfig(withRule(night)).rules[0]?.approval?.window).toEqual({ days: ['fri', 'sat'], from: '22:00', to: '02:00', timeZone: 'Europe/Berlin' });
  });

  it.each([
    ['a window that is no object', '{ groups: [sre-leads], window: 1h }', 'rules[0].approval.window', /.+/],
    ['a window without from and to', '{ groups: [sre-leads], window: { days: [mon] } }', 'rules[0].approval.window.from', /.+/],
    ['a window that closes as it opens', '{ groups: [sre-leads], window: { from: "09:00", to: "09:00" } }', 'rules[0].approval.window.to', /must differ from from/],
    ['a window time that is not HH:MM', '{ groups: [sre-leads], window: { from: "9:00", to: "17:00" } }', 'rules[0].approval.window.from', /HH:MM/],
    ['a window time past 23:59', '{ groups: [sre-leads], window: { from: "09:00", to: "24:00" } }', 'rules[0].approval.window.to', /HH:MM/],
    ['an unknown time zone', '{ groups: [sre-leads], window: { from: "09:00", to: "17:00", timeZone: Mars/Olympus } }', 'rules[0].approval.window.timeZone', /IANA time zone/],
    ['an offset for a time zone', '{ groups: [sre-leads], window: { from: "09:00", to: "17:00", timeZone: "+01:00" } }', 'rules[0].approval.window.timeZone', /IANA time zone/],
    ['a day name it does not know', '{ groups: [sre-leads], window: { days: [monday], from: "09:00", to: "17:00" } }', 'rules[0].approval.window.days[0]', /.+/],
    ['a day twice', '{ groups: [sre-leads], window: { days: [mon, mon], from: "09:00", to: "17:00" } }', 'rules[0].approval.window.days', /name each day once/],
    ['no day', '{ groups: [sre-leads], window: { days: [], from: "09:00", to: "17:00" } }', 'rules[0].approval.window.days', /.+/],
    ['an unknown window key', '{ groups: [sre-leads], window: { from: "09:00", to: "17:00", tz: UTC } }', 'rules[0].approval.window', /tz/],
    ['an allGroups that is not a boolean', '{ groups: [sre-leads], allGroups: yes-please }', 'rules[0].approval.allGroups', /.+/],
    ['no break-glass group', '{ groups: [sre-leads], breakGlassGroups: [] }', 'rules[0].approval.breakGlassGroups', /.+/],
    ['a break-glass group twice', '{ groups: [sre-leads], breakGlassGroups: [eng, eng] }', 'rules[0].approval.breakGlassGroups', /name each group once/],
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

  it('refuses break-glass groups no user of users: is in', () => {
    expect(problems(withRule('{ groups: [sre-leads], breakGlassGroups: [nobody] }'))).toContainEqual({
      key: 'rules[0].approval.breakGlassGroups',
      message: 'break-glass groups nobody, but no user in users: is in any of them: nobody could ever break glass',
    });
  });

  it('refuses allGroups over a group no user of users: is in', () => {
    expect(problems(withRule('{ groups: [sre-leads, nobody], allGroups: true }'))).toContainEqual({
      key: 'rules[0].approval.groups',
      message: 'allGroups needs an approver from nobody, but no user in users: is in it: no run could ever be approved',
    });
  });

  it('leaves break-glass and allGroups approvers to the issuer with OIDC', () => {
    const oidc = 'oidc: { issuer: "https://id.example.com", audience: rungate }\n';
    expect(parseConfig(withRule('{ groups: [sre-leads, nobody], allGroups: true, breakGlassGroups: [oncall] }', oidc)).rules[0]?.approval?.breakGlassGroups).toEqual(['oncall']);
  });

  it('leaves the count to the issuer when OIDC brings other humans and groups', () => {
    const oidc = 'oidc: { issuer: "https://id.example.com", audience: rungate }\n';
    expect(parseConfig(withRule('{ groups: [nobody], count: 3 }', oidc)).rules[0]?.approval?.count).toBe(3);
  });
});
