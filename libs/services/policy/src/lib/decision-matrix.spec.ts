import { parseConfig } from '@rungate/config';
import { AuthorizeReply, RUN_STATUS_TOOL, RungateError, Subjects, ToolsReply, type AuditEvent, type Identity } from '@rungate/contracts';
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
const USERS: Record<string, string[]> = { alice: ['eng'], bob: ['ops'], carol: ['eng', 'ops'], dave: [], lee: ['leads'] };
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
  - { name: ops-write-b, groups: [ops], connections: [pg-b], runbooks: ["demo/pg/write*"], approval: { groups: [leads] } }
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
        // The first matching rule decides: ops-write-b holds every write on pg-b by someone in ops.
        const held = tool === 'demo.pg.write' && connection === 'pg-b' && groups.includes('ops');
        const expected = expectAllowed ? (held ? 'APPROVAL_REQUIRED' : 'allow') : listed.has(tool) ? 'FORBIDDEN' : 'UNKNOWN_TOOL';
        expect({ tool, connection, outcome }).toEqual({ tool, connection, outcome: expected });
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

  it('lists a tool a rule holds for approval, on the connections that rule names', async () => {
    const { tools } = await bus.request(Subjects.policyTools, { identity: { user: 'bob', groups: ['ops'], scope: {} } }, ToolsReply, { timeoutMs: 1000 });
    const write = tools.find((t) => t.name === 'demo.pg.write');
    expect((write?.inputSchema['properties'] as Record<string, { enum?: string[] }>)['connection']?.enum).toEqual(['pg-b']);
  });
  it('without a database to hold runs in, lists no rungate_run_status and answers a call of it as an unknown tool', async () => {
    const bob: Identity = { user: 'bob', groups: ['ops'], agent: 'matrix', scope: {} };
    const { tools } = await bus.request(Subjects.policyTools, { identity: bob }, ToolsReply, { timeoutMs: 1000 });
    expect(tools.map((t) => t.name)).not.toContain(RUN_STATUS_TOOL);
    const error = await bus.request(Subjects.policyAuthorize, { identity: bob, tool: RUN_STATUS_TOOL, arguments: { runId: 'r' } }, AuthorizeReply, { timeoutMs: 1000 }).catch((e: RungateError) => e);
    expect(error).toMatchObject({ code: 'UNKNOWN_TOOL' });
  });

  describe('every refusal is on the record once, with its real reason', () => {
    const meta = { ip: '10.0.0.7', userAgent: 'probe/1' };
    /** The refusal policy answers, and the events it published for it. */
    async function refused(identity: Identity, tool: string, args: Record<string, unknown>): Promise<{ error: RungateError; events: AuditEvent[] }> {
      policy.audit.events = [];
      const error = await bus.request(Subjects.policyAuthorize, { identity, tool, arguments: args, meta }, AuthorizeReply, { timeoutMs: 1000 }).then(
        () => {
          throw new Error(`${tool} was allowed`);
        },
        (e: RungateError) => e,
      );
      return { error, events: policy.audit.events };
    }
    const alice: Identity = { user: 'alice', groups: ['eng'], agent: 'matrix', tokenId: 'tok_a', scope: {} };
    const narrowed: Identity = { ...alice, scope: { runbooks: ['demo/pg/read*'] } };
    const bob: Identity = { ...alice, user: 'bob', groups: ['ops'] };

    it.each<[string, Identity, string, Record<string, unknown>, string, string]>([
      ['an unknown tool', alice, 'demo.pg.nope', {}, 'UNKNOWN_TOOL', 'unknown-tool'],
      ['a tool the caller cannot see', alice, 'demo.admin.drop', {}, 'UNKNOWN_TOOL', 'hidden-tool'],
      ['a tool outside the token\'s runbooks', narrowed, 'demo.pg.write', { v: 'x', connection: 'pg-a' }, 'UNKNOWN_TOOL', 'hidden-tool'],
      ['a connection the caller may not use', alice, 'demo.pg.read', { id: 1, connection: 'box' }, 'FORBIDDEN', 'forbidden-connection'],
      ['a connection that does not exist', alice, 'demo.pg.read', { id: 1, connection: 'nope' }, 'FORBIDDEN', 'forbidden-connection'],
      ['no connection where two are possible', alice, 'demo.pg.read', { id: 1 }, 'INVALID_PARAMS', 'invalid-params'],
      ['invalid parameters', alice, 'demo.pg.read', { id: 'one', connection: 'pg-a' }, 'INVALID_PARAMS', 'invalid-params'],
      ['a dry run of a shell runbook', bob, 'demo.ops.restart', { unit: 'api', dryRun: true }, 'INVALID_PARAMS', 'dry-run-refused'],
      ['a dryRun that is not true or false', alice, 'demo.pg.read', { id: 1, connection: 'pg-a', dryRun: 'maybe' }, 'INVALID_PARAMS', 'dry-run-refused'],
      ['a call a rule holds for approval, where policy has no database to hold it in', bob, 'demo.pg.write', { v: 'x', connection: 'pg-b' }, 'APPROVAL_REQUIRED', 'approval'],
    ])('%s', async (_case, identity, tool, args, answered, code) => {
      const { error, events } = await refused(identity, tool, args);
      expect(error.code).toBe(answered);
      expect(error.details?.['attemptRecorded']).toBe(true);
      expect(events).toEqual([
        expect.objectContaining({
          type: 'audit.attempt.denied',
          source: 'policy',
          tool,
          actor: expect.objectContaining({ user: identity.user, agent: 'matrix', tokenId: 'tok_a', ...meta }),
          outcome: expect.objectContaining({ status: 'denied', errorCode: code }),
          decision: expect.objectContaining({ effect: 'deny' }),
          details: expect.objectContaining({ answered }),
        }),
      ]);
    });

    it('answers a hidden tool exactly as an unknown one; only the record tells them apart', async () => {
      const hidden = await refused(alice, 'demo.admin.drop', {});
      const unknown = await refused(alice, 'demo.admin.dropp', {});
      expect({ ...hidden.error.toBody(), message: hidden.error.message.replace('demo.admin.drop', '<tool>') }).toEqual({
        ...unknown.error.toBody(),
        message: unknown.error.message.replace('demo.admin.dropp', '<tool>'),
      });
      expect(hidden.events[0]?.decision?.reason).toBe('alice may not run demo/admin/drop.runbook.sql on any connection');
    });

    it('records how far a refused call got: the run id, the runbook at its commit, the connection', async () => {
      const { events } = await refused(alice, 'demo.pg.read', { id: 'one', connection: 'pg-b' });
      expect(events[0]).toMatchObject({
        runId: expect.any(String),
        runbook: { repository: 'demo', path: 'pg/read.runbook.sql', commit: 'a'.repeat(40) },
        connection: { name: 'pg-b', type: 'postgres' },
        outcome: { errorCode: 'invalid-params', error: expect.stringMatching(/^id: /) },
      });
      const forbidden = await refused(alice, 'demo.pg.read', { id: 1, connection: 'box' });
      expect(forbidden.events[0]).toMatchObject({ connection: { name: 'box', type: 'shell' }, details: { connection: 'box', connectionExists: true } });
    });
  });
});
