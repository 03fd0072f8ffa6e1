import { parseConfig } from '@rungate/config';
import { AuthorizeReply, Subjects, type Identity } from '@rungate/contracts';
import { maskingProfileDigest } from '@rungate/masking';
import { generateTicketKeyPair, verifyKeyFromPem, verifyTicket } from '@rungate/tickets';
import { startPolicy, type PolicyHarness } from '../testing/policy-harness';

const keys = generateTicketKeyPair();
process.env['MASKING_CLAIM_SIGNING_KEY'] = keys.privatePem;

const config = parseConfig(`
repositories: [{ name: demo, url: /srv/demo }]
connections:
  - { name: pg-a, type: postgres, url: env:A, masking: pii }
  - { name: pg-b, type: postgres, url: env:B }
users: [{ name: alice, groups: [eng] }, { name: bob, groups: [ops] }, { name: carol, groups: [audit] }]
rules:
  - { name: eng, groups: [eng], connections: ["pg-*"], runbooks: ["demo/**"] }
  - { name: ops-unmasked, groups: [ops], connections: [pg-a], runbooks: ["demo/**"], masking: none }
  - { name: audit-strict, groups: [audit], connections: [pg-b], runbooks: ["demo/**"], masking: strict }
masking:
  # The hash key is never set: policy signs the profile's digest and never reads its key.
  - { name: pii, entities: { email: hash }, columns: [ssn], hashKey: env:MASKING_CLAIM_KEY_NEVER_SET }
  - { name: strict, entities: { email: redact, credit_card: redact } }
tickets: { signingKey: env:MASKING_CLAIM_SIGNING_KEY }
`);

describe('policy signs the masking profile into the run ticket (ADR 14)', () => {
  let policy: PolicyHarness;

  beforeAll(async () => {
    policy = await startPolicy(config, { 'pg/read.runbook.sql': '-- @readonly\nSELECT 1;\n' }, { user: 'alice', groups: ['eng'], scope: {} });
  });

  afterAll(() => policy?.close());

  async function claimsFor(user: string, groups: string[], connection: string) {
    const identity: Identity = { user, groups, agent: 'test', scope: {} };
    const reply = await policy.bus.request(Subjects.policyAuthorize, { identity, tool: 'demo.pg.read', arguments: { connection } }, AuthorizeReply, { timeoutMs: 1000 });
    if (reply.effect !== 'allow') throw new Error(`expected allow, got ${reply.effect}`);
    return verifyTicket(reply.ticket, [verifyKeyFromPem(keys.publicPem)]);
  }
  const digest = (name: string) => maskingProfileDigest(config.masking.find((profile) => profile.name === name) ?? (undefined as never));

  it('signs the connection\'s profile by name and digest, in a v2 ticket a v1-only executor refuses', async () => {
    const claims = await claimsFor('alice', ['eng'], 'pg-a');
    expect(claims.masking).toEqual({ profile: 'pii', sha256: digest('pii') });
    expect(claims.v).toBe(2);
  });

  it('takes the rule\'s profile over the connection\'s, and its none switches masking off', async () => {
    expect((await claimsFor('carol', ['audit'], 'pg-b')).masking).toEqual({ profile: 'strict', sha256: digest('strict') });
    const unmasked = await claimsFor('bob', ['ops'], 'pg-a');
    expect(unmasked.masking).toBeUndefined();
    expect(unmasked.v).toBe(1);
    expect((await claimsFor('alice', ['eng'], 'pg-b')).masking).toBeUndefined();
  });

  it('names the profile in the decision it audits', async () => {
    const claims = await claimsFor('alice', ['eng'], 'pg-a');
    const decided = policy.audit.events.find((event) => event.runId === claims.runId && event.type === 'audit.run.decided');
    expect(decided?.details).toMatchObject({ masking: 'pii' });
  });
});
