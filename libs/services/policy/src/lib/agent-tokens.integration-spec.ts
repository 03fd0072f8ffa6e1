import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_STREAM, AgentTokensReply, Subjects, type AuditEvent, type Identity } from '@rungate/contracts';
import { NatsBus, connectNats, decodeJson, ensureAuditStream } from '@rungate/messaging';
import { openDatabase } from '@rungate/persistence';
import { createServiceContext, startService, type RunningService } from '@rungate/runtime';
import { createTestDatabase, writeTicketKeys, type TestDatabase } from '@rungate/testing';
import type { NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { policyService } from './definition';

const HOUR = 3_600_000;

/**
 * The web console's tokens page asks policy over rungate.policy.tokens.v1 (ADR 23). What
 * policy refuses there — someone else's token, a scope the maker's own sign-in lacks, a
 * narrowed maker, a user not in users: — is refused on the record: each an
 * audit.attempt.denied token-refused on the AUDIT stream, and nothing made or revoked.
 */
describe('policy: agent tokens for the console, refused', () => {
  const run = randomBytes(4).toString('hex');
  const ada = `ada-${run}@example.com`;
  const bob = `bob-${run}@example.com`;
  const stranger = `carol-${run}@example.com`;
  let dir: string;
  let pg: TestDatabase;
  let db: Promise<DataSource>;
  let policy: RunningService;
  let nc: NatsConnection;
  let bus: NatsBus;
  let fromSeq: number;

  /** A signed-in console user as the gateway sends them: their groups, not narrowed, the console's audit:read scope. */
  const signedIn = (user: string, overrides: Partial<Identity> = {}): Identity => ({ user, groups: ['engineering'], agent: 'console', scope: {}, scopes: ['audit:read'], human: true, ...overrides });

  const tokens = (request: Record<string, unknown>) => bus.request(Subjects.policyTokens, request, AgentTokensReply, { timeoutMs: 10_000 });

  /** The token-refused attempts recorded for `user` since this file started. */
  async function refusals(user: string): Promise<AuditEvent[]> {
    const consumer = await nc.jetstream().consumers.get(AUDIT_STREAM, { filterSubjects: 'audit.attempt.denied', opt_start_seq: fromSeq });
    const found: AuditEvent[] = [];
    for await (const message of await consumer.fetch({ max_messages: 10_000, expires: 1000 })) {
      const event = decodeJson(message.data) as AuditEvent;
      if (event.actor?.user === user && event.outcome?.errorCode === 'token-refused') found.push(event);
    }
    return found;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-agent-tokens-'));
    const configFile = join(dir, 'rungate.yaml');
    writeFileSync(
      configFile,
      `
repositories: [{ name: demo, url: ${join(dir, "no-repo")}, pollInterval: 1h }]
connections: [{ name: orders-db, type: postgres, url: env:NEVER_USED }]
users:
  - { name: ${ada}, groups: [engineering] }
  - { name: ${bob}, groups: [engineering] }
rules: [{ name: engineering, groups: [engineering], connections: [orders-db], runbooks: ["**"] }]
${writeTicketKeys(dir)}
`,
    );
    pg = await createTestDatabase('rg_agent_tokens');
    db = openDatabase(pg.url);
    nc = await connectNats({ name: 'agent-tokens-test' });
    bus = new NatsBus(nc);
    const jsm = await nc.jetstreamManager();
    await ensureAuditStream(jsm); // on a fresh NATS no service has made it yet
    fromSeq = (await jsm.streams.info(AUDIT_STREAM)).state.last_seq + 1;
    policy = await startService(policyService, { ...(await createServiceContext('policy', configFile)), database: () => db }, { shutdownHooks: false });
  });

  afterAll(async () => {
    await policy?.close();
    await (await db?.catch(() => undefined))?.destroy();
    await nc?.close();
    await pg?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers someone else\'s token like one that does not exist, and leaves it as it was', async () => {
    const made = await tokens({ action: 'create', identity: signedIn(ada), agent: 'ada-bot', ttlMs: HOUR });
    const id = made.created?.id as string;
    expect(id).toMatch(/^tok_/);

    // Bob sees none of Ada's tokens, and cannot revoke one by its id.
    expect((await tokens({ action: 'list', identity: signedIn(bob) })).tokens).toEqual([]);
    await expect(tokens({ action: 'revoke', identity: signedIn(bob), id })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: `you have no token ${id}` });
    const [still] = (await tokens({ action: 'list', identity: signedIn(ada) })).tokens;
    expect(still).toMatchObject({ id, user: ada, agent: 'ada-bot' });
    expect(still?.revokedAt).toBeUndefined();

    expect(await refusals(bob)).toEqual([
      expect.objectContaining({
        type: 'audit.attempt.denied',
        source: 'policy',
        actor: expect.objectContaining({ user: bob, agent: 'console' }),
        outcome: { status: 'denied', errorCode: 'token-refused', error: `you have no token ${id}` },
        details: expect.objectContaining({ answered: 'BAD_REQUEST', action: 'revoke' }),
      }),
    ]);
  });

  it('gives a new token no scope its maker\'s sign-in lacks, and lets a narrowed sign-in make none', async () => {
    const before = (await tokens({ action: 'list', identity: signedIn(ada) })).tokens.length;
    // A sign-in without audit:read (an issuer that did not grant it) asks for it on a new token.
    await expect(tokens({ action: 'create', identity: signedIn(ada, { scopes: [] }), agent: 'reader', ttlMs: HOUR, scopes: ['audit:read'] })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: 'you may not give a token audit:read: your own sign-in does not have it',
    });
    // A sign-in narrowed to some runbooks could widen itself by making an unnarrowed token.
    await expect(tokens({ action: 'create', identity: signedIn(ada, { scope: { runbooks: ['demo/shell/**'] } }), agent: 'wider', ttlMs: HOUR })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: 'a token narrowed to runbooks or connections may not make tokens: sign in with your own identity',
    });
    expect((await tokens({ action: 'list', identity: signedIn(ada) })).tokens).toHaveLength(before);

    const recorded = await refusals(ada);
    expect(recorded.map((event) => [event.outcome?.error, event.details?.['answered'], event.details?.['action']])).toEqual([
      ['you may not give a token audit:read: your own sign-in does not have it', 'FORBIDDEN', 'create'],
      ['a token narrowed to runbooks or connections may not make tokens: sign in with your own identity', 'FORBIDDEN', 'create'],
    ]);
  });

  it('makes and lists no token for a user outside users: (an agent token takes its user\'s groups from there)', async () => {
    await expect(tokens({ action: 'list', identity: signedIn(stranger) })).rejects.toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining(`${stranger} is not in users:`) });
    expect((await refusals(stranger)).map((event) => event.details?.['action'])).toEqual(['list']);
  });
});
