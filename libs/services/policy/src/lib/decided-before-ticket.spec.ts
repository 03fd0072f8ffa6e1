import { parseConfig } from '@rungate/config';
import { AuthorizeReply, Subjects, type Identity } from '@rungate/contracts';
import { generateTicketKeyPair, verifyKeyFromPem, verifyTicket } from '@rungate/tickets';
import { startPolicy, type PolicyHarness } from '../testing/policy-harness';

const keys = generateTicketKeyPair();
process.env['DECIDED_BEFORE_TICKET_KEY'] = keys.privatePem;

const config = parseConfig(`
repositories: [{ name: demo, url: /srv/demo }]
connections: [{ name: pg, type: postgres, url: env:PG }]
users: [{ name: alice, groups: [eng] }]
rules: [{ name: eng, groups: [eng], connections: [pg], runbooks: ["demo/**"] }]
tickets: { signingKey: env:DECIDED_BEFORE_TICKET_KEY }
`);

const identity: Identity = { user: 'alice', groups: ['eng'], agent: 'test', scope: {} };
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('policy answers with a ticket only once audit.run.decided is acknowledged (ADR 20)', () => {
  let policy: PolicyHarness;

  beforeAll(async () => {
    policy = await startPolicy(config, { 'pg/read.runbook.sql': '-- @readonly\nSELECT 1;\n' }, identity);
  });

  afterEach(() => {
    delete policy.audit.ack;
  });

  afterAll(() => policy?.close());

  const authorize = () => policy.bus.request(Subjects.policyAuthorize, { identity, tool: 'demo.pg.read', arguments: {} }, AuthorizeReply, { timeoutMs: 5000 });

  it('waits for the ack, then answers a ticket for the run the record names', async () => {
    let release!: () => void;
    policy.audit.ack = new Promise<void>((resolve) => (release = resolve));
    let answered = false;
    const reply = authorize().finally(() => (answered = true));
    await turns(20);
    const decided = policy.audit.events.filter((event) => event.type === 'audit.run.decided').at(-1);
    expect(decided).toBeDefined();
    expect(answered).toBe(false);
    release();
    const answer = await reply;
    if (answer.effect !== 'allow') throw new Error(`expected allow, got ${answer.effect}`);
    expect(verifyTicket(answer.ticket, [verifyKeyFromPem(keys.publicPem)]).runId).toBe(decided?.runId);
  });

  it('gives no ticket when the decision cannot be put on the record', async () => {
    policy.audit.ack = Promise.reject(new Error('stream gone'));
    policy.audit.ack.catch(() => undefined);
    await expect(authorize()).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
  });
});
