import { parseConfig } from '@rungate/config';
import { AuthorizeReply, RungateError, Subjects, type Identity } from '@rungate/contracts';
import { generateTicketKeyPair, verifyKeyFromPem, verifyTicket } from '@rungate/tickets';
import { startPolicy, type PolicyHarness } from '../testing/policy-harness';

const keys = generateTicketKeyPair();
process.env['EXPLORATION_SIGNING_KEY'] = keys.privatePem;
const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';

const config = parseConfig(`
repositories: [{ name: demo, url: /srv/demo }]
connections:
  - { name: replica, type: postgres, url: env:A, maxRows: 100, masking: pii, explore: { timeout: 3s } }
  - { name: cluster, type: kubernetes, inCluster: true, namespace: web }
  - { name: orders, type: mysql, url: env:B, maxRows: 50, sqlMode: "STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES", explore: { timeout: 2s } }
  - name: bastion
    type: ssh
    host: h
    user: u
    hostKey: "${HOST_KEY}"
    explore: { commands: [{ name: unit, argv: [systemctl, status, "{unit}", --no-pager], params: { unit: { pattern: "[a-z0-9@._-]+" } } }] }
users: [{ name: alice, groups: [oncall] }, { name: bob, groups: [sales] }]
rules:
  - { name: sales, groups: [sales], connections: [replica], runbooks: ["demo/**"] }
  - { name: oncall, groups: [oncall], explore: { connections: [replica, cluster, bastion, orders], maxRows: 500, timeout: 20s }, guardrails: [no-customers-table] }
guardrails:
  - { name: no-customers-table, on: input, match: { words: [customers_raw] }, message: Use the customers view }
masking:
  - { name: pii, entities: { email: redact } }
tickets: { signingKey: env:EXPLORATION_SIGNING_KEY }
`);

const alice: Identity = { user: 'alice', groups: ['oncall'], agent: 'claude-code', tokenId: 'tok_a', scope: {} };
const bob: Identity = { user: 'bob', groups: ['sales'], scope: {} };

describe('policy authorizes explorations (ADR 19)', () => {
  let policy: PolicyHarness;

  beforeAll(async () => {
    policy = await startPolicy(config, { 'pg/x.runbook.sql': 'SELECT 1;\n' }, bob);
  });

  afterAll(() => policy?.close());

  const authorize = (identity: Identity, tool: string, args: Record<string, unknown>, session?: string) =>
    policy.bus.request(Subjects.policyAuthorize, { identity, tool, arguments: args, ...(session ? { session } : {}) }, AuthorizeReply, { timeoutMs: 2000 });

  async function refusal(identity: Identity, tool: string, args: Record<string, unknown>): Promise<RungateError> {
    const error = await authorize(identity, tool, args).then(() => undefined, (caught: unknown) => caught);
    if (!(error instanceof RungateError)) throw new Error(`expected a refusal, got ${String(error)}`);
    return error;
  }

  function claimsOf(reply: AuthorizeReply) {
    if (reply.effect !== 'allow') throw new Error('expected allow');
    return verifyTicket(reply.ticket, [verifyKeyFromPem(keys.publicPem)]);
  }

  it('signs the statement as the body, with the explore claim, no runbook, and the grant capped by the connection', async () => {
    const reply = await authorize(alice, 'explore_sql', { connection: 'replica', sql: 'SELECT id FROM orders' }, 'mcp-1');
    if (reply.effect !== 'allow') throw new Error('expected allow');
    expect(reply.body).toBe('SELECT id FROM orders');
    const claims = claimsOf(reply);
    expect(claims).toMatchObject({ v: 2, readOnly: true, dryRun: false, tool: 'explore_sql', rule: 'oncall', params: { sql: 'SELECT id FROM orders' }, limits: { maxRows: 100, timeoutMs: 3000 } });
    expect(claims.runbook).toBeUndefined();
    expect(claims.masking?.profile).toBe('pii');
    expect(claims.explore).toEqual({ tool: 'explore_sql', session: expect.stringMatching(/^ses_[0-9a-f]{24}$/) });
    const event = policy.audit.events.find((e) => e.runId === reply.runId);
    expect(event).toMatchObject({ type: 'audit.run.decided', tool: 'explore_sql', decision: { effect: 'allow', rule: 'oncall' }, details: { session: claims.explore?.session, fingerprint: expect.any(String) } });
    const again = claimsOf(await authorize(alice, 'explore_sql', { connection: 'replica', sql: 'SELECT 2' }, 'mcp-1'));
    expect(again.explore?.session).toBe(claims.explore?.session);
    expect(claimsOf(await authorize(alice, 'explore_sql', { connection: 'replica', sql: 'SELECT 2' }, 'mcp-2')).explore?.session).not.toBe(claims.explore?.session);
  });

  it('refuses a write before anything is signed, and audits the refusal in the session', async () => {
    const error = await refusal(alice, 'explore_sql', { connection: 'replica', sql: 'DELETE FROM orders' });
    expect(error).toMatchObject({ code: 'EXPLORATION_REFUSED', message: expect.stringMatching(/^the statement is DELETE; .*; nothing was run$/) });
    const event = policy.audit.events.filter((e) => e.type === 'audit.run.decided').at(-1);
    expect(event).toMatchObject({ params: { sql: 'DELETE FROM orders' }, decision: { effect: 'deny', rule: 'oncall' }, outcome: { status: 'denied', errorCode: 'exploration' }, details: { session: expect.any(String) } });
  });

  it('applies input guardrails of the allowing rule to explorations', async () => {
    const error = await refusal(alice, 'explore_sql', { connection: 'replica', sql: 'SELECT * FROM customers_raw' });
    expect(error).toMatchObject({ code: 'GUARDRAIL_BLOCKED', message: expect.stringMatching(/guardrail no-customers-table: Use the customers view/) });
  });

  it('answers like an unknown tool to whoever has no grant, and names the connections one may explore', async () => {
    expect((await refusal(bob, 'explore_sql', { sql: 'SELECT 1' })).code).toBe('UNKNOWN_TOOL');
    expect(await refusal(alice, 'explore_sql', { connection: 'primary', sql: 'SELECT 1' })).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/you may on replica, orders$/) });
    expect(await refusal(alice, 'explore_sql', { connection: 'replica', sql: 'SELECT 1', dryRun: true })).toMatchObject({ code: 'INVALID_PARAMS', message: expect.stringMatching(/unknown argument\(s\) dryRun/) });
  });

  it('checks MySQL statements under the connection\'s sql_mode and signs the quoting the executor must pin', async () => {
    const reply = await authorize(alice, 'explore_sql', { connection: 'orders', sql: "SELECT id FROM orders WHERE note = 'a\\'" }, 'mcp-my');
    const claims = claimsOf(reply);
    expect(claims).toMatchObject({ connection: { name: 'orders', type: 'mysql' }, mysqlQuoting: { noBackslashEscapes: true, ansiQuotes: false }, limits: { maxRows: 50, timeoutMs: 2000 } });
    const decided = policy.audit.events.find((e) => e.runId === claims.runId);
    expect(decided).toMatchObject({ details: { session: claims.explore?.session, fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/) } });
    // Under NO_BACKSLASH_ESCAPES the string ends at the backslash: the DELETE is a second statement.
    const error = await refusal(alice, 'explore_sql', { connection: 'orders', sql: "SELECT 'a\\'; DELETE FROM orders; -- '" });
    expect(error).toMatchObject({ code: 'EXPLORATION_REFUSED', message: expect.stringMatching(/^2 statements were sent; .*on MySQL.*; nothing was run$/) });
    expect((await refusal(alice, 'explore_sql', { connection: 'orders', sql: 'SELECT 1 /*!50000 INTO OUTFILE "/tmp/x" */' })).message).toMatch(/executable comment/);
    const refused = policy.audit.events.filter((e) => e.type === 'audit.run.decided').at(-1);
    expect(refused).toMatchObject({ connection: { name: 'orders', type: 'mysql' }, decision: { effect: 'deny', rule: 'oncall' }, outcome: { status: 'denied', errorCode: 'exploration' }, details: { session: expect.any(String) } });
    const schema = await authorize(alice, 'explore_schema', { connection: 'orders', table: 'orders' });
    expect(schema.effect === 'allow' && schema.body).toMatch(/information_schema\.COLUMNS/);
  });

  it('builds Kubernetes reads in the namespaces the connection allows', async () => {
    const reply = await authorize(alice, 'explore_logs', { connection: 'cluster', pod: 'web-1', tailLines: 50 });
    expect(reply.effect === 'allow' && JSON.parse(reply.body)).toEqual({ read: 'logs', namespace: 'web', pod: 'web-1', tailLines: 50, previous: false });
    expect(await refusal(alice, 'explore_k8s', { connection: 'cluster', kind: 'pods', namespace: 'kube-system' })).toMatchObject({
      code: 'EXPLORATION_REFUSED',
      message: 'namespace kube-system is not readable on cluster; it allows web; nothing was run',
    });
    expect((await refusal(alice, 'explore_k8s', { connection: 'cluster', kind: 'secrets' })).code).toBe('INVALID_PARAMS');
  });

  it('fills an allow-listed host command, one argument per value, or refuses it', async () => {
    const reply = await authorize(alice, 'explore_command', { connection: 'bastion', command: 'unit', args: { unit: 'nginx.service' } });
    expect(reply.effect === 'allow' && JSON.parse(reply.body)).toEqual({ command: 'unit', argv: ['systemctl', 'status', 'nginx.service', '--no-pager'] });
    expect(await refusal(alice, 'explore_command', { connection: 'bastion', command: 'unit', args: { unit: 'nginx; reboot' } })).toMatchObject({
      code: 'EXPLORATION_REFUSED',
      message: 'argument unit of unit must match [a-z0-9@._-]+; nothing was run',
    });
    expect((await refusal(alice, 'explore_command', { connection: 'bastion', command: 'reboot' })).message).toMatch(/bastion allows no command reboot \(it allows unit\)/);
  });
});
