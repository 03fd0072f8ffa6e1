import { parseConfig } from '@rungate/config';
import { AuthorizeReply, RungateError, Subjects, type Identity } from '@rungate/contracts';
import { generateTicketKeyPair, verifyKeyFromPem, verifyTicket } from '@rungate/tickets';
import { startPolicy, type PolicyHarness } from '../testing/policy-harness';

const RUNBOOKS: Record<string, string> = {
  'pg/purge.runbook.sql': "DELETE FROM sessions -- WHERE user_id = 42\n  RETURNING 'WHERE', {{ .user_id | type \"number\" }} AS asked_for;\n",
  'pg/forget.runbook.sql': 'DELETE FROM sessions WHERE user_id = {{ .user_id | type "number" }};\n',
  'pg/note.runbook.sql': "UPDATE notes SET body = '{{ .body }}' WHERE id = 1;\n",
  'reports/daily.runbook.sql': "-- @readonly\nSELECT * FROM orders WHERE day = '{{ .day | type \"date\" }}';\n",
};

const keys = generateTicketKeyPair();
process.env['GUARDRAILS_SIGNING_KEY'] = keys.privatePem;

const CONFIG = `
repositories: [{ name: demo, url: /srv/demo }]
connections:
  - { name: prod-db, type: postgres, url: env:A }
  - { name: staging-db, type: postgres, url: env:B }
users: [{ name: alice, groups: [eng] }, { name: lee, groups: [leads] }]
rules:
  - { name: eng, groups: [eng], connections: ["*"], runbooks: ["demo/**"], guardrails: [row-cap] }
tickets: { signingKey: env:GUARDRAILS_SIGNING_KEY }
guardrails:
  - name: no-unbounded-writes
    on: input
    connections: [prod-db]
    match: { sql: { requireWhere: true } }
    message: Writes on production must name their rows
  - { name: mind-the-notes, on: input, runbooks: ["demo/pg/note*"], match: { words: [password] }, action: warn }
  - { name: deletes-need-a-lead, on: input, connections: [staging-db], match: { sql: { forbid: [delete] } }, action: require_approval, approval: { groups: [leads] } }
  - { name: row-cap, on: output, match: { maxRows: 100 } }
  - { name: no-card-numbers, on: output, connections: [prod-db], runbooks: ["demo/reports/**"], match: { pattern: '\\d{4}-\\d{4}-\\d{4}-\\d{4}' } }
`;

const alice: Identity = { user: 'alice', groups: ['eng'], agent: 'claude-code', scope: {} };

describe('guardrails in policy', () => {
  let policy: PolicyHarness;

  beforeAll(async () => {
    policy = await startPolicy(parseConfig(CONFIG), RUNBOOKS, alice);
  });

  afterAll(() => policy?.close());

  function authorize(tool: string, args: Record<string, unknown>): Promise<AuthorizeReply> {
    return policy.bus.request(Subjects.policyAuthorize, { identity: alice, tool, arguments: args }, AuthorizeReply, { timeoutMs: 2000 });
  }

  async function refusal(tool: string, args: Record<string, unknown>): Promise<RungateError> {
    const error = await authorize(tool, args).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    if (!(error instanceof RungateError)) throw new Error(`expected a refusal, got ${String(error)}`);
    return error;
  }

  const decided = (runId?: string) => policy.audit.events.filter((e) => e.type === 'audit.run.decided' && (runId === undefined || e.runId === runId));
  const denied = () => policy.audit.events.filter((e) => e.type === 'audit.attempt.denied');

  it('denies a DELETE without WHERE before a ticket is signed, and audits the guardrail by name', async () => {
    const before = policy.audit.events.length;
    const error = await refusal('demo.pg.purge', { user_id: 4111, connection: 'prod-db' });
    expect(error.code).toBe('GUARDRAIL_BLOCKED');
    expect(error.message).toBe(
      'guardrail no-unbounded-writes: Writes on production must name their rows (statement 1 (line 1): DELETE without a WHERE clause would change every row); nothing was run',
    );
    const [event] = policy.audit.events.slice(before);
    expect(event).toMatchObject({
      type: 'audit.attempt.denied',
      decision: { effect: 'deny', rule: 'eng', reason: error.message.replace('; nothing was run', '') },
      outcome: { status: 'denied', errorCode: 'guardrail' },
      guardrails: [{ name: 'no-unbounded-writes', on: 'input', action: 'deny' }],
    });
    expect(JSON.stringify(event?.decision)).not.toContain('4111');
  });

  it('allows a DELETE with a WHERE there, and holds the one without elsewhere for approval', async () => {
    const reply = await authorize('demo.pg.forget', { user_id: 1, connection: 'prod-db' });
    expect(reply.effect).toBe('allow');
    await expect(refusal('demo.pg.purge', { user_id: 1, connection: 'staging-db' })).resolves.toMatchObject({ code: 'APPROVAL_REQUIRED' });
  });

  it('holds a run a require_approval guardrail matched, as a rule’s approval does; without a database to hold it in, refuses it', async () => {
    const error = await refusal('demo.pg.forget', { user_id: 1, connection: 'staging-db' });
    expect(error.code).toBe('APPROVAL_REQUIRED');
    expect(error.message).toBe(
      "guardrail deletes-need-a-lead requires approval by leads (statement 1 (line 1) is DELETE, which is forbidden (delete)); a held run is stored in Rungate's database, which this policy has none of (DATABASE_URL), so the run was not executed",
    );
    expect(denied().at(-1)).toMatchObject({ decision: { effect: 'deny' }, outcome: { errorCode: 'approval' }, guardrails: [{ name: 'deletes-need-a-lead', action: 'require_approval' }] });
  });

  it('allows a run a warn guardrail matched and records the warning on the decision', async () => {
    const reply = await authorize('demo.pg.note', { body: 'my password is in here', connection: 'prod-db' });
    if (reply.effect !== 'allow') throw new Error('expected allow');
    expect(decided(reply.runId)[0]).toMatchObject({
      decision: { effect: 'allow', rule: 'eng' },
      guardrails: [{ name: 'mind-the-notes', on: 'input', action: 'warn', message: 'the word "password" is in the body' }],
    });
  });

  it('signs the output guardrails into the ticket (v2), where the executor will find them', async () => {
    const reply = await authorize('demo.reports.daily', { day: '2026-01-31', connection: 'prod-db' });
    if (reply.effect !== 'allow') throw new Error('expected allow');
    const claims = verifyTicket(reply.ticket, [verifyKeyFromPem(keys.publicPem)]);
    expect(claims.v).toBe(2);
    expect(claims.guardrails).toEqual([
      { name: 'row-cap', action: 'deny', match: { maxRows: 100 } },
      { name: 'no-card-numbers', action: 'deny', match: { pattern: '\\d{4}-\\d{4}-\\d{4}-\\d{4}' } },
    ]);
    expect(decided(reply.runId)[0]?.details).toMatchObject({ outputGuardrails: ['row-cap', 'no-card-numbers'] });
  });

  it('follows a configuration reload', async () => {
    policy.config.replace(parseConfig(CONFIG.replace('connections: [prod-db]\n    match: { sql', 'connections: [staging-db]\n    match: { sql')));
    try {
      expect((await authorize('demo.pg.purge', { user_id: 1, connection: 'prod-db' })).effect).toBe('allow');
    } finally {
      policy.config.replace(parseConfig(CONFIG));
    }
    await expect(refusal('demo.pg.purge', { user_id: 1, connection: 'prod-db' })).resolves.toMatchObject({ code: 'GUARDRAIL_BLOCKED' });
  });
});
