import { parseConfig } from '@rungate/config';
import { AuthorizeReply, RungateError, Subjects, ToolsReply, type Identity } from '@rungate/contracts';
import { generateTicketKeyPair } from '@rungate/tickets';
import { startPolicy, type PolicyHarness } from '../testing/policy-harness';

const RUNBOOKS: Record<string, string> = {
  'pg/read.runbook.sql': '-- @readonly\nSELECT {{ .id | type "number" }};\n',
  'pg/write.runbook.sql': "UPDATE t SET v = '{{ .v }}';\n",
  'ops/restart.runbook.sh': 'systemctl restart {{ .unit | options "api" "worker" }}\n',
  'admin/drop.runbook.sql': 'DROP TABLE t;\n',
};
const ARGS: Record<string, Record<string, unknown>> = {
  'demo.pg.read': { id: 1 },
  'demo.pg.write': { v: "o'hara" },
  'demo.ops.restart': { unit: 'api' },
  'demo.admin.drop': {},
};
const CONNECTIONS = ['pg-a', 'pg-b', 'box'];
const USERS: Record<string, string[]> = { alice: ['eng'], bob: ['ops'], carol: ['eng', 'ops'], dave: [] };
const SCOPES: Identity['scope'][] = [{}, { runbooks: ['demo/pg/read*'] }, { connections: ['pg-b', 'box'] }];

const keys = generateTicketKeyPair();
process.env['MATRIX_SIGNING_KEY'] = keys.privatePem;

const config = parseConfig(`
repositories: [{ name: demo, url: /srv/demo }]
connections:
  - { name: pg-a, type: postgres, url: env:A }
  - { name: pg-b, type: postgres, url: env:B }
  - { name: box, type: shell }
users: [${Object.entries(USERS).map(([name, groups]) => `{ name: ${name}, groups: [${groups.join(', ')}] }`).join(', ')}]
rules:
  - { name: eng-postgres, groups: [eng], connections: ["pg-*"], runbooks: ["demo/pg/**"] }
  - { name: ops-box, groups: [ops], connections: [box], runbooks: ["demo/ops/**"] }
  - { name: ops-read-b, groups: [ops], connections: [pg-b], runbooks: ["demo/pg/read*"] }
tickets: { signingKey: env:MATRIX_SIGNING_KEY }
`);

describe('one decision function for tools/list and tools/call', () => {
  let policy: PolicyHarness;
  let bus: PolicyHarness['bus'];

  beforeAll(async () => {
    policy = await startPolicy(config, RUNBOOKS, { user: 'alice', groups: ['eng'], scope: {} });
    bus = policy.bus;
  });

  afterAll(() => policy?.close());

  const cases = Object.entries(USERS).flatMap(([user, groups]) => SCOPES.map((scope) => ({ user, groups, scope })));

  it.each(cases)('$user with scope $scope: every listed tool is callable, every other call refused', async ({ user, groups, scope }) => {
    const identity: Identity = { user, groups, agent: 'matrix', scope };
    const { tools } = await bus.request(Subjects.policyTools, { identity }, ToolsReply, { timeoutMs: 1000 });
    const listed = new Map(tools.map((t) => [t.name, ((t.inputSchema['properties'] as Record<string, { enum?: string[] }>)['connection']?.enum ?? []) as string[]]));
    for (const tool of Object.keys(ARGS)) {
      for (const connection of CONNECTIONS) {
        const expectAllowed = listed.get(tool)?.includes(connection) ?? false;
        let outcome: string;
        try {
          const reply = await bus.request(Subjects.policyAuthorize, { identity, tool, arguments: { ...ARGS[tool], connection } }, AuthorizeReply, { timeoutMs: 1000 });
          outcome = reply.effect;
        } catch (error) {
          outcome = (error as RungateError).code;
        }
        expect({ tool, connection, outcome }).toEqual({ tool, connection, outcome: expectAllowed ? 'allow' : listed.has(tool) ? 'FORBIDDEN' : 'UNKNOWN_TOOL' });
      }
    }
  });

  it('lists what the rules give: an engineer sees the postgres runbooks on both postgres connections, never the admin one', async () => {
    const { tools } = await bus.request(Subjects.policyTools, { identity: { user: 'alice', groups: ['eng'], scope: {} } }, ToolsReply, { timeoutMs: 1000 });
    expect(tools.map((t) => t.name).sort()).toEqual(['demo.pg.read', 'demo.pg.write']);
    expect(tools[0]?.inputSchema['required']).toContain('connection');
    const { tools: none } = await bus.request(Subjects.policyTools, { identity: { user: 'dave', groups: [], scope: {} } }, ToolsReply, { timeoutMs: 1000 });
    expect(none).toEqual([]);
  });
});
