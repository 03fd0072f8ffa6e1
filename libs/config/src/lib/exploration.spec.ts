import { parseConfig } from './load';
import { problems } from '../testing/problems';

const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const base = `
repositories: [{ name: demo, url: /srv }]
connections:
  - { name: replica, type: postgres, url: env:A, explore: { role: rungate_read, timeout: 20s } }
  - { name: orders-db, type: mysql, url: env:B, explore: { timeout: 15s } }
  - { name: plain-mysql, type: mysql, url: env:B }
  - { name: box, type: shell }
  - { name: cluster, type: kubernetes, inCluster: true, explore: { namespaces: [default, web] } }
  - { name: plain-host, type: ssh, host: h, user: u, hostKey: "${HOST_KEY}" }
  - name: host
    type: ssh
    host: h
    user: u
    hostKey: "${HOST_KEY}"
    explore:
      commands:
        - { name: disk, argv: [df, -h] }
        - { name: journal, argv: [journalctl, -u, "{unit}", -n, "200", --no-pager], params: { unit: { pattern: "[a-z0-9@._-]+" } } }
users: [{ name: alice, groups: [oncall] }]
`;

function withRule(rule: string): string {
  return `${base}rules:\n  - ${rule}\n`;
}

describe('explore grants in rungate.yaml', () => {
  it('accept a rule that only grants exploration, with defaults for maxRows and timeout', () => {
    const config = parseConfig(withRule('{ name: explore, groups: [oncall], explore: { connections: [replica, cluster, host] } }'));
    expect(config.rules[0]).toMatchObject({ connections: [], runbooks: [], explore: { connections: ['replica', 'cluster', 'host'], maxRows: 500, timeout: 10_000 } });
    expect(config.connections[0]).toMatchObject({ explore: { role: 'rungate_read', timeout: 20_000 } });
  });

  it('accept MySQL connections: explored read-only with START TRANSACTION READ ONLY (ADR 19), bounded by their explore.timeout', () => {
    const config = parseConfig(withRule('{ name: explore, groups: [oncall], explore: { connections: [orders-db, plain-mysql] } }'));
    expect(config.rules[0]?.explore?.connections).toEqual(['orders-db', 'plain-mysql']);
    expect(config.connections[1]).toMatchObject({ type: 'mysql', explore: { timeout: 15_000 } });
    expect(problems(`${base.replace('explore: { timeout: 15s }', 'explore: { timeout: 15s, role: r }')}`)).toContainEqual({
      key: 'connections[1].explore',
      message: expect.stringMatching(/role/),
    });
    expect(problems(base.replace('explore: { timeout: 15s }', 'explore: { timeout: 10m }'))).toContainEqual({ key: 'connections[1].explore.timeout', message: expect.stringMatching(/at most 5m/) });
  });

  it.each([
    ['{ name: r, groups: [oncall], explore: { connections: [nowhere] } }', 'rules[0].explore.connections[0]', /unknown connection "nowhere" \(explore names connections exactly, no globs\)/],
    ['{ name: r, groups: [oncall], explore: { connections: ["repl*"] } }', 'rules[0].explore.connections[0]', /unknown connection "repl\*"/],
    ['{ name: r, groups: [oncall], explore: { connections: [box] } }', 'rules[0].explore.connections[0]', /box is a shell connection/],
    ['{ name: r, groups: [oncall], explore: { connections: [plain-host] } }', 'rules[0].explore.connections[0]', /ssh connection without explore.commands/],
    ['{ name: r, groups: [oncall], explore: { connections: [replica], maxRows: 0 } }', 'rules[0].explore.maxRows', /too small|expected number to be >0/i],
    ['{ name: r, groups: [oncall], explore: { connections: [replica], maxRows: 1000000 } }', 'rules[0].explore.maxRows', /10000/],
    ['{ name: r, groups: [oncall], explore: { connections: [replica], timeout: 1h } }', 'rules[0].explore.timeout', /at most 5m/],
    ['{ name: r, groups: [oncall], explore: { connections: [] } }', 'rules[0].explore.connections', /.+/],
    ['{ name: r, groups: [oncall] }', 'rules[0].connections', /name at least one connection/],
  ])('refuses %s', (rule, key, message) => {
    const found = problems(withRule(rule));
    expect(found).toContainEqual({ key, message: expect.stringMatching(message) });
  });

  it('validates an SSH command allow-list: placeholders are whole arguments with a pattern, never the program', () => {
    const command = (spec: string) =>
      problems(`${base.replace('- { name: disk, argv: [df, -h] }', spec)}rules: [{ name: r, groups: [oncall], explore: { connections: [host] } }]\n`);
    expect(command('- { name: disk, argv: ["{prog}", -h], params: { prog: { pattern: "df" } } }')).toContainEqual({
      key: 'connections[6].explore.commands[0].argv[0]',
      message: expect.stringMatching(/the program is fixed/),
    });
    expect(command('- { name: disk, argv: [df, "--x={v}"], params: { v: { pattern: "a" } } }')).toContainEqual({
      key: 'connections[6].explore.commands[0].argv[1]',
      message: expect.stringMatching(/stands for a whole argument/),
    });
    expect(command('- { name: disk, argv: [df, "{v}"] }')).toContainEqual({ key: 'connections[6].explore.commands[0].argv[1]', message: expect.stringMatching(/no entry in params/) });
    expect(command('- { name: disk, argv: [df, "{v}"], params: { v: { pattern: "(a" } } }')).toContainEqual({
      key: 'connections[6].explore.commands[0].params.v.pattern',
      message: expect.stringMatching(/not an RE2 pattern/),
    });
    expect(command('- { name: journal, argv: [df] }')).toContainEqual({ key: 'connections[6].explore.commands[1].name', message: 'duplicate command "journal"' });
  });

  it('refuses a role name that SET ROLE would have to quote', () => {
    expect(problems(`${base.replace('role: rungate_read', 'role: "x; DROP"')}`)).toContainEqual({ key: 'connections[0].explore.role', message: expect.stringMatching(/a role name/) });
  });
});
