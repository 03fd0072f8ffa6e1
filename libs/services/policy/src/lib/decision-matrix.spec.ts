import type { MessageHandler } from '@nestjs/microservices';
import { parseConfig } from '@rungate/config';
import {
  AuthorizeReply,
  RungateError,
  Subjects,
  ToolsReply,
  type AuditEvent,
  type AuditEventInput,
  type Identity,
  type RepositoryCatalog,
} from '@rungate/contracts';
import { InProcessBroker, InProcessBus, InProcessRpcServer, completeAuditEvent, type AuditSink } from '@rungate/messaging';
import { parseRunbook, toolName } from '@rungate/runbooks';
import { ConfigHolder, startService, type RunningService } from '@rungate/runtime';
import { eventually } from '@rungate/testing';
import { generateTicketKeyPair, sha256Hex } from '@rungate/tickets';
import { policyService } from './definition';

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

class RecordingSink implements AuditSink {
  events: AuditEvent[] = [];
  async publish(input: AuditEventInput): Promise<AuditEvent> {
    const event = completeAuditEvent(input);
    this.events.push(event);
    return event;
  }
}

function handler(fn: (payload: unknown) => unknown): MessageHandler {
  return Object.assign(async (payload: unknown) => ({ ok: true, value: await fn(payload) }), { isEventHandler: false }) as unknown as MessageHandler;
}

describe('one decision function for tools/list and tools/call', () => {
  const broker = new InProcessBroker();
  const bus = new InProcessBus(broker);
  let policy: RunningService;

  beforeAll(async () => {
    const commit = 'a'.repeat(40);
    const catalog: RepositoryCatalog = {
      repository: 'demo',
      commit,
      syncedAt: new Date().toISOString(),
      stale: false,
      rejected: [],
      runbooks: Object.entries(RUNBOOKS).map(([path, source]) => {
        const result = parseRunbook(path, source);
        if (!result.ok) throw new Error(JSON.stringify(result.findings));
        const { language, metadata, parameters, sha256 } = result.runbook;
        return { repository: 'demo', path, tool: toolName('demo', path), language, metadata, parameters: [...parameters], sha256 };
      }),
    };
    // git-sync's side of the bus, answering from the runbooks above.
    broker.register(Subjects.catalogGet, handler(() => ({ catalogs: [catalog] })));
    broker.register(Subjects.catalogContent, handler((p) => ({ content: RUNBOOKS[(p as { path: string }).path], sha256: sha256Hex(RUNBOOKS[(p as { path: string }).path] as string) })));
    policy = await startService(policyService, {
      service: 'policy',
      configFile: '',
      config: new ConfigHolder(config),
      bus,
      audit: new RecordingSink(),
      transport: () => new InProcessRpcServer(broker),
    });
    await eventually(async () => {
      const { tools } = await bus.request(Subjects.policyTools, { identity: { user: 'alice', groups: ['eng'], scope: {} } }, ToolsReply, { timeoutMs: 1000 });
      if (tools.length === 0) throw new Error('catalog not loaded');
    });
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
