import { parseConfig } from '@rungate/config';
import type { Identity } from '@rungate/contracts';
import { builtinConnections, builtinTool, listBuiltinTools } from './builtin-tools';
import { listTools } from './tools';

const config = parseConfig(`
repositories: [{ name: demo, url: /srv/demo }]
connections:
  - { name: replica, type: postgres, url: env:A, explore: { role: rungate_read } }
  - { name: primary, type: postgres, url: env:B }
  - { name: cluster, type: kubernetes, inCluster: true }
  - name: bastion
    type: ssh
    host: 127.0.0.1
    user: ops
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    explore: { commands: [{ name: disk, argv: [df, -h] }, { name: unit, argv: [systemctl, status, "{unit}"], params: { unit: { pattern: "[a-z0-9@._-]+" } } }] }
users: [{ name: alice, groups: [oncall] }, { name: bob, groups: [sales] }]
rules:
  - { name: oncall-runbooks, groups: [oncall], connections: ["*"], runbooks: ["demo/**"] }
  - { name: oncall-explore, groups: [oncall], explore: { connections: [replica, cluster, bastion], maxRows: 200, timeout: 5s } }
`);

const alice: Identity = { user: 'alice', groups: ['oncall'], agent: 'claude-code', scope: {} };
const bob: Identity = { user: 'bob', groups: ['sales'], scope: {} };

describe('built-in exploration tools: one decision for listing and calling', () => {
  it('are listed only for the groups and connections an explore grant names', () => {
    const names = listBuiltinTools(alice, config).map((t) => t.name);
    expect(names).toEqual(['explore_sql', 'explore_schema', 'explore_k8s', 'explore_logs', 'explore_command']);
    expect(listBuiltinTools(bob, config)).toEqual([]);
    expect(listTools(bob, [], config.connections, config.rules)).toEqual([]);
    const sql = builtinTool('explore_sql');
    if (!sql) throw new Error('explore_sql is built in');
    // primary is allowed for runbooks, not for exploration.
    expect(builtinConnections(sql, alice, config).map((c) => c.name)).toEqual(['replica']);
    expect(sql.decide(alice, config.connections[1] as (typeof config.connections)[number], config)).toMatchObject({ effect: 'deny', family: 'no-rule' });
    expect(sql.decide(alice, config.connections[0] as (typeof config.connections)[number], config)).toMatchObject({ effect: 'allow', rule: 'oncall-explore', grant: { maxRows: 200, timeout: 5000 } });
  });

  it('are invisible without a grant, also with no rules at all', () => {
    expect(listBuiltinTools(alice, { connections: config.connections, rules: [] })).toEqual([]);
    expect(listBuiltinTools(alice, { connections: config.connections, rules: config.rules.filter((r) => r.name !== 'oncall-explore') })).toEqual([]);
  });

  it('follow the token scope: a runbooks scope leaves them out unless it names them, a connections scope narrows them', () => {
    expect(listBuiltinTools({ ...alice, scope: { runbooks: ['demo/**'] } }, config)).toEqual([]);
    expect(listBuiltinTools({ ...alice, scope: { runbooks: ['@builtin/explore_sql'] } }, config).map((t) => t.name)).toEqual(['explore_sql']);
    expect(listBuiltinTools({ ...alice, scope: { connections: ['cluster'] } }, config).map((t) => t.name)).toEqual(['explore_k8s', 'explore_logs']);
  });

  it('describe themselves as MCP tools: read-only annotations, the connections as an enum, strict arguments', () => {
    const [sql] = listBuiltinTools(alice, config);
    expect(sql).toMatchObject({
      name: 'explore_sql',
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      inputSchema: { type: 'object', additionalProperties: false, required: ['sql'], properties: { connection: { enum: ['replica'], default: 'replica' }, sql: { type: 'string' } } },
    });
    const command = listBuiltinTools(alice, config).find((t) => t.name === 'explore_command');
    expect(command?.description).toContain('- unit on bastion: systemctl status {unit}; args: unit ([a-z0-9@._-]+)');
    expect(builtinTool('explore_sql')?.arguments.safeParse({ sql: 'SELECT 1', extra: 1 }).success).toBe(false);
    expect(builtinTool('demo.postgres.x')).toBeUndefined();
  });
});
