import { parseConfig } from '@rungate/config';
import { AuthorizeReply, BearerAuthorizeReply, Subjects, type Identity } from '@rungate/contracts';
import { tokenSha256 } from '@rungate/policy';
import { generateTicketKeyPair, verifyKeyFromPem, verifyTicket } from '@rungate/tickets';
import { startPolicy, type PolicyHarness } from '../testing/policy-harness';

const keys = generateTicketKeyPair();
process.env['BEARER_SIGNING_KEY'] = keys.privatePem;
const TOKEN = 'rg_alice_static_token_for_authorize_v2';
const STRANGER = 'rg_nobody_knows_this_one';

const source = (tokens: string) => `
repositories: [{ name: demo, url: /srv/demo }]
connections:
  - { name: pg-a, type: postgres, url: env:A }
users: [{ name: alice, groups: [eng] }]
tokens: [${tokens}]
rules:
  - { name: eng, groups: [eng], connections: [pg-a], runbooks: ["demo/pg/**"] }
tickets: { signingKey: env:BEARER_SIGNING_KEY }
`;
const withAlice = parseConfig(source(`{ sha256: "${tokenSha256(TOKEN)}", user: alice, agent: claude-code }`));
const withoutAlice = parseConfig(source(''));

/**
 * rungate.policy.authorize.v2 (ADR 24): the token authenticated as on authenticate.v1 and the
 * call authorized as on authorize.v1, in one request; a token that does not authenticate is
 * the request's error and policy records nothing for it (the gateway does, once).
 */
describe('authorize.v2: authenticate and authorize a tools/call in one request', () => {
  let policy: PolicyHarness;
  const meta = { ip: '10.0.0.9', userAgent: 'v2-spec/1' };
  const ask = (bearer: string, tool: string, args: Record<string, unknown>) =>
    policy.bus.request(Subjects.policyAuthorizeBearer, { bearer, tool, arguments: args, meta }, BearerAuthorizeReply, { timeoutMs: 2000 });

  beforeAll(async () => {
    policy = await startPolicy(withAlice, { 'pg/read.runbook.sql': '-- @readonly\nSELECT {{ .id | type "number" }};\n' }, { user: 'alice', groups: ['eng'], scope: {} });
  });

  afterAll(() => policy?.close());
  beforeEach(() => (policy.audit.events = []));

  it('answers the identity with the decision authorize.v1 gives that identity', async () => {
    const reply = await ask(TOKEN, 'demo.pg.read', { id: 1 });
    const identity: Identity = { user: 'alice', groups: ['eng'], agent: 'claude-code', tokenId: tokenSha256(TOKEN).slice(0, 12), scope: {} };
    expect(reply.identity).toMatchObject(identity);
    if (!('decision' in reply) || reply.decision.effect !== 'allow') throw new Error(`expected allow, got ${JSON.stringify(reply)}`);
    const v1 = await policy.bus.request(Subjects.policyAuthorize, { identity: reply.identity, tool: 'demo.pg.read', arguments: { id: 1 }, meta }, AuthorizeReply, { timeoutMs: 2000 });
    if (v1.effect !== 'allow') throw new Error('v1 did not allow');
    const [claims, v1Claims] = [verifyTicket(reply.decision.ticket, [verifyKeyFromPem(keys.publicPem)]), verifyTicket(v1.ticket, [verifyKeyFromPem(keys.publicPem)])];
    expect({ ...claims, runId: '', exp: 0, iat: 0 }).toEqual({ ...v1Claims, runId: '', exp: 0, iat: 0 });
    expect(reply.decision.body).toBe(v1.body);
    // Each decision on the record once, with the caller.
    expect(policy.audit.events.filter((e) => e.type === 'audit.run.decided').map((e) => e.actor)).toEqual([
      expect.objectContaining({ user: 'alice', agent: 'claude-code', ip: '10.0.0.9' }),
      expect.objectContaining({ user: 'alice', agent: 'claude-code', ip: '10.0.0.9' }),
    ]);
  });

  it('carries a refusal of the call beside the identity, recorded by policy once', async () => {
    const reply = await ask(TOKEN, 'demo.pg.nope', {});
    expect(reply).toMatchObject({ identity: { user: 'alice' }, refusal: { code: 'UNKNOWN_TOOL', details: { attemptRecorded: true } } });
    expect(policy.audit.events.map((e) => [e.type, e.actor?.user])).toEqual([['audit.attempt.denied', 'alice']]);
  });

  it('refuses a token it does not know as authenticate.v1 does, recording nothing, authorizing nothing', async () => {
    await expect(ask(STRANGER, 'demo.pg.read', { id: 1 })).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: 'unknown or revoked token' });
    expect(policy.audit.events).toEqual([]);
  });

  it('refuses a token removed by a config reload on the very next request', async () => {
    expect('decision' in (await ask(TOKEN, 'demo.pg.read', { id: 2 }))).toBe(true);
    policy.config.replace(withoutAlice);
    try {
      await expect(ask(TOKEN, 'demo.pg.read', { id: 3 })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    } finally {
      policy.config.replace(withAlice);
    }
  });
});
